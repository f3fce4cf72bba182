"""The one error family of privacy request services; each interface maps it once (API error
bodies, form errors, admin messages, command exit codes)."""


class PrivacyRequestError(Exception):
    """Base: a refusal whose message can be shown to the person who asked."""


class NotAllowed(PrivacyRequestError):
    """The actor may not act on this project's requests."""


class InvalidRequest(PrivacyRequestError):
    """The submission itself is wrong; `field` names the input, `index` the bad list item."""

    def __init__(self, message: str, *, field: str, index: int | None = None):
        super().__init__(message)
        self.field = field
        self.index = index


class InvalidTransition(PrivacyRequestError):
    """The request's status does not allow this action (e.g. cancel after STARTED)."""

    def __init__(self, message: str, *, status: str):
        super().__init__(message)
        self.status = status


class Conflict(PrivacyRequestError):
    """Some ids already have an unfinished deletion in the same project."""

    def __init__(self, message: str, *, distinct_ids: list[str], tracking_ids: list[str]):
        super().__init__(message)
        self.distinct_ids = distinct_ids
        self.tracking_ids = tracking_ids


class IdempotencyKeyReused(PrivacyRequestError):
    """The Idempotency-Key already created a request with another body (API 422)."""
