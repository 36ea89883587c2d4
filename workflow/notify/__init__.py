"""Notifications: queueing notices into the outbox, and delivering the outbox.

``enqueue`` is the one way in: a typed ``Notice`` rendered once (``render``, from the
templates in ``templates/``) and queued for each recipient on each route ``contacts`` knows.
``digest`` folds held reminders into the daily digest through the same function.
``delivery`` claims due rows under a lease and hands them to a ``Channel`` (``channels``:
log, e-mail, webhook); ``statuses`` names the states a row goes through.
"""
