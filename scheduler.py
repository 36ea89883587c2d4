"""The scheduler process (APScheduler): timer sweep, outbox relay, digests and reports.

Not built yet: the deadlines/reminders issue adds the timer rows and ``sweep``; the
workers/scheduler issue turns this module into the leader-locked APScheduler process behind
``rectify scheduler``. Until then, the engine runs without any scheduled work.
"""

from __future__ import annotations

import sys


def main() -> int:
    sys.stderr.write("rectify scheduler: no scheduled jobs exist yet (timers come with the "
                     "deadlines feature)\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
