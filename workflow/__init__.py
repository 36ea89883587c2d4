"""rectify's engine: process definitions, the shared state machine, persistence and history.

Nothing in this package imports Celery or APScheduler; those only execute what the engine
decides (see ``workers/`` and ``scheduler.py``).
"""

__version__ = "0.1.0"
