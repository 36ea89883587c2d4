"""Celery workers: thin tasks that take ids and call the engine (``workers.app``).

Run them with ``rectify worker`` (or ``celery -A workers worker``); ``BROKER_URL`` names the
Redis broker. Nothing in ``workflow/`` imports this package.
"""

from workers.app import app

__all__ = ["app"]
