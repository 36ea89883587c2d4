"""Notifications: queueing messages into the outbox, and delivering the outbox.

``enqueue`` queues a message in the caller's transaction; ``contacts`` says where each
recipient is reached; ``digest`` folds held reminders into the daily digest; ``delivery``
claims due rows under a lease and hands them to a ``Channel`` (``channels``: log, e-mail,
webhook); ``render`` turns an issue's facts into the Chinese subject and body; ``statuses``
names the states a row goes through.
"""
