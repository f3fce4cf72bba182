from datetime import datetime

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in; the email address is the login."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Staff may sign in to the admin back office."
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email


class Organization(models.Model):
    name = models.CharField(max_length=200)
    # Named in every export package, for the end user's questions (issue 17).
    privacy_contact = models.CharField(
        max_length=254,
        blank=True,
        help_text="An email address or web page for privacy questions, shown in export packages.",
    )
    # Four-eyes approval (issue 19): a deletion reaching more than either needs a second
    # owner's or admin's approval. Empty is off.
    approval_subjects_over = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Deletions reaching more subjects than this need a second approval "
        "(suggested: 100). Empty: off.",
    )
    approval_events_over = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Deletions reaching more events than this need a second approval "
        "(suggested: 1000000). Empty: off.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization_id", "user__email"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="membership_unique_user_organization"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.organization}"


class GdprToken(models.Model):
    """A user's personal GDPR API token. Only its SHA-256 hash is stored; one per user."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gdpr_token"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "GDPR token"

    def __str__(self) -> str:
        return f"GDPR token of {self.user}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class ServiceAccountRole(models.TextChoices):
    """A service account is never an owner: it manages nobody. Admin may also use the GDPR API;
    both may ingest and read the projects they are granted."""

    ADMIN = Role.ADMIN.value, "Admin"
    MEMBER = Role.MEMBER.value, "Member"


class ServiceAccount(models.Model):
    """A non-person principal of an organization (Mixpanel's service accounts): HTTP Basic
    `username:secret`. Only the secret's SHA-256 hash is kept; the grants to projects live in
    projects (`ServiceAccountProject`)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="service_accounts"
    )
    name = models.CharField(max_length=100)
    username = models.CharField(max_length=80, unique=True)
    secret_hash = models.CharField(max_length=64)
    role = models.CharField(max_length=16, choices=ServiceAccountRole.choices)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=255, help_text="The actor, as text.")
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=255, blank=True)

    # DRF's checks ask the authenticated principal this, as they ask a User.
    is_authenticated = True

    class Meta:
        ordering = ["organization_id", "name", "id"]

    def __str__(self) -> str:
        return self.username

    def is_usable(self, *, now: datetime | None = None) -> bool:
        """Neither revoked nor expired: checked on every request, so both take effect at once."""
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class Invitation(models.Model):
    """An offer of a role in an organization to an email address (issue 15, finding 7): the
    membership exists only once the person accepts from the emailed link while signed in with
    that address. Only the link token's SHA-256 hash is kept; a link works once, until
    `expires_at`, and only while the inviter may still grant the role."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    # The person whose role authorizes the invitation: re-checked at acceptance.
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    invited_by_text = models.CharField(max_length=255, help_text="The inviter, as text.")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["organization_id", "email", "-created_at"]
        constraints = [
            # One open invitation per address and organization: a new one replaces it.
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.organization} as {self.role}"

    @property
    def is_open(self) -> bool:
        """Neither accepted nor revoked (it may still have expired)."""
        return self.accepted_at is None and self.revoked_at is None

    def is_usable(self, *, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.is_open and self.expires_at > now
