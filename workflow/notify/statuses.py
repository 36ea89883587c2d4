"""The statuses an outbox row goes through, shared by the side that queues rows and the side
that delivers them.

``pending`` (waiting for ``next_attempt_at``), ``sending`` (leased to a worker), ``sent``,
``dead`` (gave up; ``retry`` revives it), ``digest`` (a reminder held for the daily digest)
and ``digested`` (folded into a digest row).
"""

from __future__ import annotations

PENDING, SENDING, SENT, DEAD = "pending", "sending", "sent", "dead"
HELD, DIGESTED = "digest", "digested"
STATUSES = (PENDING, SENDING, SENT, DEAD, HELD, DIGESTED)
