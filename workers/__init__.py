"""Celery workers: thin tasks that take ids and call the engine.

Empty for now: the workers/scheduler issue adds the Celery app (``BROKER_URL``), its
configuration (acks_late, reject on worker lost, prefetch 1, time limits) and the tasks that
deliver outbox rows and process claimed timers. Nothing in ``workflow/`` imports this package.
"""
