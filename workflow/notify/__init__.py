"""Delivery of the notification outbox: channels, message templates and the outbox worker.

``outbox`` claims due rows under a lease and hands them to a ``Channel`` (log, e-mail,
webhook); ``render`` turns an issue's facts into the Chinese subject and body.
"""
