"""The one error hierarchy of the engine.

Every error says what was wrong and what is allowed instead, so that a message shown by the
CLI or an API is enough for a user to correct the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class RectifyError(Exception):
    """Base class of every error the engine raises on purpose."""


class NotFoundError(RectifyError):
    """A referenced issue, definition or evidence file does not exist."""


class ConfigurationError(RectifyError):
    """The environment (database URL, directories) is not usable."""


@dataclass(frozen=True)
class DefinitionFault:
    """One problem found in a process definition file.

    Attributes:
        file: path of the definition file.
        line: 1-based line of the offending key (0 when the whole file is at fault).
        key: dotted path of the key, e.g. ``transitions[2].to``.
        message: what is wrong and what is allowed.
    """

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class DefinitionError(RectifyError):
    """A process definition failed validation; carries every fault, not just the first."""

    def __init__(self, faults: Sequence[DefinitionFault]):
        self.faults = list(faults)
        lines = "\n".join(f"  {fault}" for fault in self.faults)
        super().__init__(f"{len(self.faults)} problem(s) in process definitions:\n{lines}")


class TransitionError(RectifyError):
    """Base class of the errors a refused ``fire`` raises; nothing was changed."""


class IllegalTriggerError(TransitionError):
    """The trigger does not exist from the issue's current state for the actor's role."""

    def __init__(self, *, issue_id: int, trigger: str, state: str, role: str,
                 allowed: Sequence[str]):
        self.issue_id, self.trigger, self.state, self.role = issue_id, trigger, state, role
        self.allowed = list(allowed)
        choices = ", ".join(self.allowed) if self.allowed else "none"
        super().__init__(
            f"issue {issue_id}: trigger '{trigger}' is not allowed from state '{state}' "
            f"for role '{role}'; allowed triggers: {choices}"
        )


class PermissionDeniedError(TransitionError):
    """The trigger exists from the current state, but not for the actor's role."""

    def __init__(self, *, issue_id: int, trigger: str, role: str, roles: Sequence[str],
                 allowed: Sequence[str]):
        self.issue_id, self.trigger, self.role = issue_id, trigger, role
        self.roles, self.allowed = list(roles), list(allowed)
        super().__init__(
            f"issue {issue_id}: role '{role}' may not fire '{trigger}' (roles allowed: "
            f"{', '.join(self.roles)}); triggers role '{role}' may fire here: "
            f"{', '.join(self.allowed) or 'none'}"
        )


class OutOfScopeError(TransitionError):
    """The role may take the action, but the actor's unit has no part in this issue."""

    def __init__(self, *, issue_id: int, action: str, actor: str, role: str,
                 owners: Sequence[str]):
        self.issue_id, self.action, self.actor, self.role = issue_id, action, actor, role
        self.owners = list(owners)
        whose = ", ".join(self.owners) or "no unit"
        super().__init__(
            f"issue {issue_id}: {actor} (role '{role}') may not {action}: the issue belongs "
            f"to {whose}")


class RequirementError(TransitionError):
    """A guard of the transition rejected the call (missing comment, evidence, checklist...)."""

    def __init__(self, *, issue_id: int, trigger: str, problems: Sequence[str],
                 problems_zh: Sequence[str] | None = None):
        self.issue_id, self.trigger = issue_id, trigger
        self.problems = list(problems)
        self.problems_zh = list(problems_zh) if problems_zh is not None else self.problems
        details = "; ".join(self.problems)
        super().__init__(f"issue {issue_id}: '{trigger}' refused: {details}")


class ConflictError(TransitionError):
    """Another writer changed the issue first (optimistic version check failed)."""

    def __init__(self, *, issue_id: int, expected: int, actual: int | None = None):
        self.issue_id, self.expected, self.actual = issue_id, expected, actual
        now = f"; it is now at version {actual}" if actual is not None else ""
        super().__init__(
            f"issue {issue_id} was changed by someone else: expected version {expected}{now}. "
            "Reload the issue and try again."
        )


class InputError(RectifyError):
    """A value given by the user is malformed (a date, a role name, a file path...)."""


class AuthenticationError(RectifyError):
    """Who calls could not be established: no or an ended session, a wrong login, password
    or one-time code, an unknown, expired or revoked token. The message never says whether
    a login exists."""


class LockedOutError(AuthenticationError):
    """Too many failed sign-ins for this login or from this address; try again later."""

    def __init__(self, *, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"too many failed sign-ins; sign-in is locked for this login or "
                         f"address, try again in {max(1, -(-retry_after // 60))} minute(s)")


class RequestRefusedError(RectifyError):
    """The caller is known, but the request is refused for how it was made: an unsafe
    request with a session cookie and no valid CSRF token, a read-only token writing."""


class DeliveryError(RectifyError):
    """A channel could not hand a message over; the outbox retries it after a back-off."""


class PermanentDeliveryError(DeliveryError):
    """A channel refuses a message for a reason no retry can change (a webhook host taken
    off the allowlist); the message was not sent and should be dead-lettered at once."""


class ActionDeniedError(RectifyError):
    """The actor's role may not take an action that is not a trigger (recording
    accountability, deciding a proposal...)."""

    def __init__(self, *, action: str, role: str, roles: Sequence[str]):
        self.action, self.role, self.roles = action, role, list(roles)
        super().__init__(f"role '{role}' may not {action}; roles allowed: "
                         f"{', '.join(self.roles)}")


class VersionRequiredError(RectifyError):
    """A write over HTTP that does not say which version of the issue it expects
    (``If-Match``)."""


class StaleVersionError(RectifyError):
    """A write over HTTP expecting a version the issue is no longer at (``If-Match``)."""


class RequestInProgressError(RectifyError):
    """A repeat of a request (same ``Idempotency-Key``) arrived while the first still runs."""
