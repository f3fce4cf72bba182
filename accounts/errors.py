"""Business failures of accounts; interfaces map them to form errors, API errors or exit codes."""


class AccountsError(Exception):
    """Base of every refusal an accounts service can raise; the message is shown to people."""


class NotAllowed(AccountsError):
    """The actor's role does not allow this action."""


class LastOwner(AccountsError):
    """The change would leave the organization without an owner."""


class MembershipNotFound(AccountsError):
    pass


class GdprTokenExists(AccountsError):
    pass


class ServiceAccountInvalid(AccountsError):
    """A service account's name, role or expiry is not acceptable."""


class ServiceAccountRevoked(AccountsError):
    pass
