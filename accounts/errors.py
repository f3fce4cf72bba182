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


class InvitationRefused(AccountsError):
    """An invitation cannot be sent: the address is already a member's, or the organization
    sent its day's share of invitations."""


class InvitationUnusable(AccountsError):
    """The link names no invitation that can still be accepted: unknown, expired, accepted or
    revoked; one message for all, so that a link says nothing more than that."""


class InvitationNotYours(AccountsError):
    """The signed-in person is not the invited address."""
