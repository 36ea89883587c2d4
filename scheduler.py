"""The scheduler process (APScheduler): timer sweep, outbox relay, digests and reports.

Not built yet: the workers/scheduler work turns this module into the leader-locked
APScheduler process behind ``rectify scheduler``. The jobs it will run exist already as
commands: ``rectify sweep``, ``rectify outbox deliver`` and ``rectify outbox digest``; run
them from cron until then.
"""

from __future__ import annotations

import sys


def main() -> int:
    sys.stderr.write("rectify scheduler is not built yet; run `rectify sweep`, "
                     "`rectify outbox deliver` and `rectify outbox digest` from cron\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
