import secrets

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.fields.json import KT
from django.db.models.functions import Lower


def project_token_generate() -> str:
    # Public, like a Mixpanel project token: 32 hex characters naming the project.
    return secrets.token_hex(16)


class IdentityLinksFrom(models.TextChoices):
    """Which identity links form clusters (DESIGN section 3)."""

    ANY = "any", "Any ingestion (Mixpanel's behaviour)"
    AUTHENTICATED = "authenticated", "Authenticated ingestion only"


class Project(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="projects"
    )
    name = models.CharField(max_length=200)
    token = models.CharField(max_length=64, unique=True, default=project_token_generate)
    api_secret_hash = models.CharField(max_length=64)
    # HMAC(PRIVACY_LOOKUP_KEY, secret): finds the project of a secret sent alone (/import with
    # records that carry no token). Written whenever a secret is issued; NULL for projects whose
    # secret predates it, which keep working with ?project_id= or the records' tokens.
    api_secret_lookup = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False
    )
    api_secret_rotated_at = models.DateTimeField(null=True, blank=True)
    suppress_deleted_ids = models.BooleanField(
        default=False,
        help_text="Drop later ingestion of distinct_ids removed by a deletion request.",
    )
    # Changed only through privacy_requests' audited service (identity_links_from_set).
    identity_links_from = models.CharField(
        max_length=16,
        choices=IdentityLinksFrom.choices,
        default=IdentityLinksFrom.ANY,
        db_default=IdentityLinksFrom.ANY,
        help_text="Which ingestion's identity links form clusters: any, or authenticated only.",
    )
    # Storage limitation (issue 20): events that happened more than this many calendar months
    # ago are removed by the sweep; NULL keeps them until a deletion request. Changed only
    # through privacy_requests' audited service (keep_events_months_set).
    keep_events_months = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Remove events older than this many months; empty keeps them.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="project_unique_name_per_organization"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ServiceAccountProject(models.Model):
    """A service account's grant to one project of its organization (the account lives in
    accounts, which knows nothing of projects; the grant lives here)."""

    service_account = models.ForeignKey(
        "accounts.ServiceAccount", on_delete=models.CASCADE, related_name="project_grants"
    )
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="service_account_grants"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_account", "project"], name="service_account_project_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_account_id} → {self.project_id}"


# The properties an event keeps in columns rather than in `properties`: ingestion takes them out
# of what it stores, and an export record puts them back from the columns.
EVENT_COLUMN_PROPERTIES = ("time", "distinct_id", "$insert_id")


class Event(models.Model):
    """One tracked event of an end user. Stored UTC; `time` is when it happened.

    On PostgreSQL the primary key is the dedupe constraint below, which includes distinct_id, as
    Citus requires to distribute the table on it; Profile's and IdentityLink's are their own
    unique constraints (projects/distribution_keys.py). Django's state keeps `id` as the key: it
    stays unique through its identity sequence, and a plain index on it serves the lookups by
    `id` alone.
    """

    # No database foreign key: Citus refuses one from a distributed table (the store: events,
    # profiles, identity links and their records; docs/scaling.md) to a local one. No cascade
    # either: Django would delete a project's millions of rows in one transaction. A project's
    # store rows go through projects.services.project_delete, in short batches by distinct_id.
    project = models.ForeignKey(
        Project, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    distinct_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    time = models.DateTimeField()
    insert_id = models.CharField(max_length=36)
    properties = models.JSONField(default=dict)
    source = models.CharField(max_length=100, blank=True)
    ingested_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One index does both jobs: Mixpanel's dedupe key, and, led by
            # (project, distinct_id, time), the index scan behind "all events of these ids"
            # and its CCPA time-bounded form. No second index to update on insert or delete.
            models.UniqueConstraint(
                fields=["project", "distinct_id", "time", "name", "insert_id"],
                name="event_dedupe_and_subject_lookup",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} by {self.distinct_id} at {self.time:%Y-%m-%d %H:%M:%S}"


class Profile(models.Model):
    """An end user's profile (Mixpanel "People"), changed by /engage operations."""

    # As Event.project: no database foreign key, deleted by project_delete.
    project = models.ForeignKey(
        Project, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    distinct_id = models.CharField(max_length=255)
    properties = models.JSONField(default=dict)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "distinct_id"], name="profile_unique_distinct_id"
            ),
        ]
        # The end-user lookup's (issue 18; projects/end_user_lookup.py). $email, the lookup
        # of almost every request, matches without regard to case: a small btree over the
        # lowercased value. Any other property matches its value exactly through one GIN
        # index (jsonb_path_ops: only `@>`, a third of jsonb_ops' size), which also serves
        # the engage query's `where` equalities. A distinct_id prefix needs pattern_ops:
        # LIKE uses a plain btree only in the "C" collation. All PostgreSQL-only but the
        # first, built concurrently (projects/concurrent_indexes.py).
        indexes = [
            models.Index("project", Lower(KT("properties__$email")), name="profile_by_email_lower"),
            GinIndex(
                fields=["properties"], opclasses=["jsonb_path_ops"], name="profile_by_property"
            ),
            models.Index(
                fields=["project", "distinct_id"],
                opclasses=["int8_ops", "varchar_pattern_ops"],
                name="profile_by_id_prefix",
            ),
        ]

    def __str__(self) -> str:
        return self.distinct_id


class IdentityKind(models.TextChoices):
    ALIAS = "alias", "Alias ($create_alias)"
    MERGE = "merge", "Merge ($merge)"
    IDENTIFY = "identify", "Identify ($identify)"
    DEVICE = "device", "Device ($device_id → $user_id)"


class LinkRecordOutcome(models.TextChoices):
    """What became of a link request ingestion saw."""

    FORMED = "formed", "Formed (joined a cluster)"
    UNVERIFIED = "unverified", "Unverified (public; kept as evidence, formed nothing)"
    UNCHANGED = "unchanged", "Unchanged (the ids were already together)"
    REFUSED = "refused", "Refused"


class LinkRefusal(models.TextChoices):
    """Why a link was refused; the records keep the code, never a distinct_id."""

    CLUSTER_FULL = "cluster_full", "the identity cluster was at its cap"
    MERGE_TOO_LARGE = "merge_too_large", "the merged cluster would exceed the cap"
    ALIAS_MAPPED = "alias_mapped", "the alias already maps to another id"
    ANON_IDENTIFIED = "anon_identified", "the $anon_id is already identified as another user"
    DEVICE_LINKED = "device_linked", "the device is already linked to another user"


class IdentityLinkRecord(models.Model):
    """Evidence: one identity link request as ingestion saw it, and what became of it.

    `distinct_id` is the id that asked to join (the alias, the `$anon_id`, the device, a
    merge's second id) and `canonical_id` the id it named (never rewritten to a root). Repeats
    of the same request with the same outcome and the same kind of ingestion share one row:
    `count` and `last_seen_at` grow, the first `insert_id` stays, so an SDK that sends its
    device link with every event adds no row per batch. End-user data: a deletion removes the
    rows that name any of its subjects.
    """

    # As Event.project: no database foreign key, deleted by project_delete.
    project = models.ForeignKey(
        Project, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    distinct_id = models.CharField(max_length=255)
    canonical_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=IdentityKind.choices)
    # Authenticated ingestion: /import with the API secret or a service account. Public: the
    # project token alone (/track).
    authenticated = models.BooleanField()
    outcome = models.CharField(max_length=16, choices=LinkRecordOutcome.choices)
    reason = models.CharField(max_length=32, blank=True)
    endpoint = models.CharField(max_length=16)
    # Whose credentials: "project-secret", "service-account:<username>", "" when public.
    principal = models.CharField(max_length=200, blank=True)
    insert_id = models.CharField(max_length=36, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    count = models.PositiveBigIntegerField(default=1)

    class Meta:
        constraints = [
            # Also the index of "the records of these ids" (led by project, distinct_id).
            models.UniqueConstraint(
                fields=[
                    "project",
                    "distinct_id",
                    "canonical_id",
                    "kind",
                    "authenticated",
                    "outcome",
                ],
                name="identity_link_record_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "canonical_id"], name="link_record_by_canonical"),
        ]

    def __str__(self) -> str:
        return f"{self.distinct_id} → {self.canonical_id} ({self.kind}, {self.outcome})"


class IdentityLink(models.Model):
    """`distinct_id` belongs to the identity cluster whose root is `canonical_id`.

    Clusters are kept flat: every member points at the root directly, so resolving the clusters
    of any set of ids takes two indexed queries. The root itself has no row.
    """

    # As Event.project: no database foreign key, deleted by project_delete.
    project = models.ForeignKey(
        Project, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    distinct_id = models.CharField(max_length=255)
    canonical_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=IdentityKind.choices)
    created_at = models.DateTimeField()
    # How the row was formed: whether its link came from authenticated ingestion (what the
    # `authenticated` rule and its cap count), and the record of that link. Rows older than
    # provenance have no record and count as public.
    authenticated = models.BooleanField(default=False, db_default=False)
    # No database constraint (migration 0010): a link row lives on its own distinct_id's shard
    # and its record on the requesting id's, which a distributed store cannot check. What
    # deletes records clears the links that point at them first (identity_removal).
    record = models.ForeignKey(
        IdentityLinkRecord,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "distinct_id"], name="identity_link_one_cluster_per_id"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "canonical_id"], name="identity_link_by_canonical"),
            # The end-user lookup by distinct_id prefix (see Profile's).
            models.Index(
                fields=["project", "distinct_id"],
                opclasses=["int8_ops", "varchar_pattern_ops"],
                name="identity_link_by_id_prefix",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.distinct_id} → {self.canonical_id} ({self.kind})"


class GroupProfile(models.Model):
    """A group's profile (/groups). Stored, but not end-user data."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    group_key = models.CharField(max_length=255)
    group_id = models.CharField(max_length=255)
    properties = models.JSONField(default=dict)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "group_key", "group_id"], name="group_profile_unique_group"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_key}={self.group_id}"


class SuppressedId(models.Model):
    """A deleted distinct_id whose later records ingestion drops; only its HMAC is kept."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    id_hmac = models.CharField(max_length=64)
    # The deletion request that suppressed it: an id, not a foreign key, since projects does not
    # depend on privacy_requests.
    request_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "id_hmac"], name="suppressed_id_unique_hmac"
            ),
        ]

    def __str__(self) -> str:
        return f"suppressed {self.id_hmac[:12]}…"


class RefusedRecordCount(models.Model):
    """How many records ingestion refused, per project, hour, endpoint and reason: what the
    project's owners see in its settings. The reason is the refused field, with property names
    left out (`properties.*`), so rows stay few whatever clients send; never an id or a value.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField()
    endpoint = models.CharField(max_length=16)
    reason = models.CharField(max_length=100)
    count = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            # Also the index of "this project's counts since <hour>".
            models.UniqueConstraint(
                fields=["project", "hour", "endpoint", "reason"],
                name="refused_record_count_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.count} refused on /{self.endpoint} ({self.reason}), {self.hour:%Y-%m-%d %H}h"
