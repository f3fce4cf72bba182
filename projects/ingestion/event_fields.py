"""What an event record's fields become, once its project and shape are checked: its
distinct_id under the simplified ID merge and the device link it asks for, the identity link of
a `$create_alias`, `$identify` or `$merge`, the `$insert_id` derived for a record without one,
and the means of collection stored as its source.
"""

import functools
import hashlib
import json
from datetime import datetime

from projects.identity import LinkRequest
from projects.ingestion import limits
from projects.ingestion.outcome import Endpoint
from projects.ingestion.validation import Problem, distinct_id_normalize, field_problem
from projects.models import IdentityKind

DEVICE_PREFIX = "$device:"
_SOURCE_MAX_LENGTH = 100


def event_identity(properties: dict, *, strict: bool) -> tuple[str, LinkRequest | None] | Problem:
    """The event's distinct_id under the simplified ID merge, and the device link it asks for.
    Placeholder ids are refused in strict mode, and in any mode when they would be linked."""
    user_id = properties.get("$user_id")
    device_id = properties.get("$device_id")
    refused = strict or (user_id is not None and device_id is not None)
    device: str | None = None
    if device_id is not None:
        normalized = distinct_id_normalize(
            device_id, field="properties.$device_id", placeholders_refused=refused
        )
        if isinstance(normalized, Problem):
            return normalized
        device = DEVICE_PREFIX + normalized
        if len(device) > limits.MAX_ID_LENGTH:
            return field_problem(
                "properties.$device_id",
                f"is too long: '{DEVICE_PREFIX}' and the id exceed {limits.MAX_ID_LENGTH} "
                "characters",
            )
    if user_id is not None:
        distinct_id = distinct_id_normalize(
            user_id, field="properties.$user_id", placeholders_refused=refused
        )
        if isinstance(distinct_id, Problem):
            return distinct_id
        link = None if device is None else LinkRequest(device, distinct_id, IdentityKind.DEVICE)
        return distinct_id, link
    given = properties.get("distinct_id")
    if given is None or given == "":
        if device is not None:
            return device, None
        if given == "":
            # Mixpanel accepts an empty distinct_id: an event tied to no user.
            return "", None
    distinct_id = distinct_id_normalize(
        given, field="properties.distinct_id", placeholders_refused=refused
    )
    if isinstance(distinct_id, Problem):
        return distinct_id
    return distinct_id, None


def identity_link_parse(
    name: str, properties: dict, *, endpoint: Endpoint
) -> tuple[LinkRequest, str] | Problem:
    """The identity link of a `$create_alias`, `$identify` or `$merge`, and the field that
    names it in a refusal."""
    if name == "$create_alias":
        fields = ("properties.distinct_id", "properties.alias")
        original, alias = properties.get("distinct_id"), properties.get("alias")
        kind = IdentityKind.ALIAS
    elif name == "$identify":
        fields = ("properties.$identified_id", "properties.$anon_id")
        original, alias = properties.get("$identified_id"), properties.get("$anon_id")
        kind = IdentityKind.IDENTIFY
    else:
        if endpoint != Endpoint.IMPORT:
            return field_problem(
                "event", "$merge is accepted only by /import, with the project's API secret"
            )
        ids = properties.get("$distinct_ids")
        if not isinstance(ids, list) or len(ids) != 2:
            return field_problem("properties.$distinct_ids", "must list exactly two distinct_ids")
        fields = ("properties.$distinct_ids[0]", "properties.$distinct_ids[1]")
        (original, alias), kind = ids, IdentityKind.MERGE
    canonical_id = distinct_id_normalize(original, field=fields[0])
    if isinstance(canonical_id, Problem):
        return canonical_id
    joining_id = distinct_id_normalize(alias, field=fields[1])
    if isinstance(joining_id, Problem):
        return joining_id
    refusal_field = "properties.$distinct_ids" if kind == IdentityKind.MERGE else fields[1]
    return LinkRequest(joining_id, canonical_id, kind), refusal_field


def insert_id_derive(*, name: str, time: datetime, distinct_id: str, stored: dict) -> str:
    """A deterministic $insert_id, so that a retried batch without ids still dedupes."""
    canonical = json.dumps(
        [name, time.isoformat(), distinct_id, stored],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def event_source(endpoint: Endpoint, properties: dict) -> str:
    """The means of collection: endpoint and library, e.g. "track/python 5.4.1"."""
    library = properties.get("mp_lib")
    if not isinstance(library, str) or not library:
        return str(endpoint)
    version = properties.get("$lib_version")
    if not isinstance(version, str | int | float) or isinstance(version, bool) or version == "":
        version = None
    # A batch comes mostly from one library: its text is made once. The type is in the key,
    # since 1 and 1.0 are equal keys but different versions.
    return _source_text(endpoint, library, version.__class__, version)


@functools.lru_cache(maxsize=256)
def _source_text(endpoint: Endpoint, library: str, _kind: type, version: object) -> str:
    source = f"{endpoint}/{library}"
    if version is not None:
        source += f" {version}"
    return source[:_SOURCE_MAX_LENGTH]
