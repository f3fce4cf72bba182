"""Daily checkpoints of the audit chains (DESIGN section 3): once a day the sweep writes the
head of every organization's chain to private storage, as `audit-checkpoints/YYYY-MM-DD.json`
(UTC day). A checkpoint is written once and never overwritten; if the day's exists, nothing is
written. `audit_verify --checkpoints` then proves that no chain ends before, or differs at, an
entry a checkpoint recorded: someone who can delete rows in the database cannot also take
back what storage already holds. (On S3, an Object Lock or a versioned bucket makes the prefix
append-only for whoever holds storage credentials too.)
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone

from privacy_requests.audit import AUDIT_HASH, AuditAnchor, audit_heads
from privacy_requests.exports.files import private_storage
from privacy_requests.exports.package import iso_utc

CHECKPOINT_DIR = "audit-checkpoints"
CHECKPOINT_VERSION = 1
CHECKPOINT_MEANING = (
    "The head (last entry) of each organization's audit chain when this checkpoint was "
    "written. Chains only grow: each must still hold the entry named here, with this hash."
)
# Serializes sweeps that reach the day's checkpoint at once, so only one writes it.
CHECKPOINT_LOCK_KEY = 7_406_315_282
_HASH = re.compile(r"[0-9a-f]{64}")


class CheckpointUnreadable(ValueError):
    """A stored checkpoint is not one this code wrote: verification cannot rely on it."""


def audit_checkpoint_name(moment: datetime) -> str:
    return f"{CHECKPOINT_DIR}/{moment.astimezone(UTC).date().isoformat()}.json"


def audit_checkpoint_write(*, now: datetime | None = None) -> str | None:
    """Writes the day's checkpoint unless it exists; its name when this call wrote it.

    Storage errors propagate (the sweep logs them and the next sweep tries again).
    """
    now = now or timezone.now()
    name = audit_checkpoint_name(now)
    storage = private_storage()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHECKPOINT_LOCK_KEY])
        if storage.exists(name):
            return None
        checkpoint = {
            "checkpoint": "audit chain heads",
            "version": CHECKPOINT_VERSION,
            "day": now.astimezone(UTC).date().isoformat(),
            "written_at": iso_utc(now),
            "meaning": CHECKPOINT_MEANING,
            "algorithm": AUDIT_HASH,
            "heads": [
                {"organization": head.organization_id, "seq": head.seq, "hash": head.hash}
                for head in audit_heads()
            ],
        }
        content = json.dumps(checkpoint, indent=2).encode() + b"\n"
        saved = storage.save(name, ContentFile(content))
    if saved != name:
        # Another writer got there between the check and the save (only without the lock:
        # two databases sharing a bucket); the first stays as it is.
        storage.delete(saved)
        return None
    return name


@dataclass(frozen=True)
class Checkpoint:
    name: str
    heads: dict[int, AuditAnchor]


def audit_checkpoints_read() -> list[Checkpoint]:
    """Every stored checkpoint, oldest first. Raises CheckpointUnreadable for a file that is
    not a checkpoint, rather than verifying against less than was written."""
    storage = private_storage()
    try:
        _, files = storage.listdir(CHECKPOINT_DIR)
    except FileNotFoundError:
        return []
    checkpoints = []
    for file_name in sorted(files):
        name = f"{CHECKPOINT_DIR}/{file_name}"
        with storage.open(name, "rb") as stored:
            content = stored.read()
        checkpoints.append(Checkpoint(name, _heads(name, content)))
    return checkpoints


def _heads(name: str, content: bytes) -> dict[int, AuditAnchor]:
    try:
        rows = json.loads(content)["heads"]
        parsed = [(row["organization"], row["seq"], row["hash"]) for row in rows]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointUnreadable(
            f"{name} is not an audit checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    heads = {}
    for organization_id, seq, hash_ in parsed:
        # bool is an int to isinstance; a checkpoint never holds one.
        if not (
            type(organization_id) is int
            and type(seq) is int
            and seq >= 1
            and isinstance(hash_, str)
            and _HASH.fullmatch(hash_)
        ):
            raise CheckpointUnreadable(f"{name}: a head is not an organization, seq and hash")
        heads[organization_id] = AuditAnchor(seq, hash_, f"checkpoint {name}")
    return heads
