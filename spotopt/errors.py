"""Domain errors raised by services. Their message is meant for the person who caused them."""


class DomainError(Exception):
    """A request the product refuses, with a message a user can act on."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class TransitionNotAllowed(DomainError):
    code = "transition_not_allowed"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class PermissionRefused(DomainError):
    code = "permission_denied"


class ServiceUnavailable(DomainError):
    """A service we depend on (AWS) could not be reached; trying again later may work."""

    code = "unavailable"
