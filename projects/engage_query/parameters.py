"""The engage query's parameters, named as Mixpanel names them, checked into an `EngageQuery`.

`distinct_id` or `distinct_ids` (a JSON list) and `where` narrow the selection and combine with
"and"; none of them selects every profile. `output_properties` (a JSON list of names) trims what
each profile shows. `session_id` and `page` page through the selection, 1,000 profiles a page.

Parameters that would change the selection in ways not served here (`behaviors`,
`filter_by_cohort`, `data_group_id`) are refused rather than ignored: ignoring one would select
more profiles than the client asked for, and the client may be about to delete them.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from projects.engage_query.errors import QueryRefused
from projects.engage_query.expression import ExpressionError, Node, expression_parse

MAX_DISTINCT_IDS = 2_000
MAX_OUTPUT_PROPERTIES = 1_000
_MAX_ID_LENGTH = 255
_MAX_PROPERTY_NAME_LENGTH = 255
_MAX_PAGE = 10**9
_MAX_LIST_PARAMETER = 1_000_000  # characters of a JSON list parameter, before parsing it
_REFUSED = {
    "behaviors": "behaviors (event-based selection) is not supported",
    "filter_by_cohort": "filter_by_cohort is not supported",
    "data_group_id": "data_group_id (group profiles) is not supported",
}


@dataclass(frozen=True)
class ProfileSelection:
    """Which profiles: those named (None: any) that match `where` (None: all)."""

    distinct_ids: tuple[str, ...] | None
    where: Node | None
    where_text: str

    def digest(self) -> str:
        """Names the selection, so that a session id fits only the query it was issued for."""
        canonical = json.dumps(
            [sorted(self.distinct_ids) if self.distinct_ids is not None else None, self.where_text]
        )
        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class EngageQuery:
    selection: ProfileSelection
    output_properties: tuple[str, ...] | None  # None: every property
    page: int
    session_id: str  # "" when none was given


def engage_query_parse(params: Mapping[str, str]) -> EngageQuery:
    """Raises QueryRefused, naming the parameter and what is wrong with it."""
    for name, reason in _REFUSED.items():
        if params.get(name, "").strip():
            raise QueryRefused(reason)
    # Present counts, even empty: `distinct_id=` from a blank variable must select no one, not
    # every profile of the project.
    if "distinct_id" in params and "distinct_ids" in params:
        raise QueryRefused("give distinct_id or distinct_ids, not both")
    distinct_ids: tuple[str, ...] | None = None
    if "distinct_id" in params:
        distinct_ids = (_distinct_id(params["distinct_id"], field="distinct_id"),)
    elif "distinct_ids" in params:
        distinct_ids = _distinct_ids(params["distinct_ids"])
    where_text = params.get("where", "").strip()
    where = None
    if where_text:
        try:
            where = expression_parse(where_text)
        except ExpressionError as error:
            raise QueryRefused(f"where: {error}") from None
    return EngageQuery(
        selection=ProfileSelection(distinct_ids=distinct_ids, where=where, where_text=where_text),
        output_properties=_output_properties(params.get("output_properties", "")),
        page=_page(params.get("page", "")),
        session_id=params.get("session_id", "").strip(),
    )


def _distinct_id(value: object, *, field: str) -> str:
    # Ingestion stores a numeric id as its text: 4 finds the profile "4".
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise QueryRefused(f"{field} must be a non-empty string")
    if len(value) > _MAX_ID_LENGTH:
        raise QueryRefused(f"{field} is longer than {_MAX_ID_LENGTH} characters")
    if "\x00" in value or not _is_text(value):
        raise QueryRefused(f"{field} holds a character that no distinct_id can hold")
    return value


def _distinct_ids(raw: str) -> tuple[str, ...]:
    items = _json_list(raw, field="distinct_ids")
    ids = dict.fromkeys(
        _distinct_id(item, field=f"distinct_ids[{index}]") for index, item in enumerate(items)
    )
    if len(ids) > MAX_DISTINCT_IDS:
        raise QueryRefused(f"distinct_ids holds more than {MAX_DISTINCT_IDS:,} ids")
    return tuple(ids)


def _output_properties(raw: str) -> tuple[str, ...] | None:
    if not raw.strip():
        return None
    items = _json_list(raw, field="output_properties")
    if len(items) > MAX_OUTPUT_PROPERTIES:
        raise QueryRefused(f"output_properties names more than {MAX_OUTPUT_PROPERTIES:,}")
    names: dict[str, None] = {}
    for index, item in enumerate(items):
        if not isinstance(item, str) or len(item) > _MAX_PROPERTY_NAME_LENGTH:
            raise QueryRefused(
                f"output_properties[{index}] must be a property name of at most "
                f"{_MAX_PROPERTY_NAME_LENGTH} characters"
            )
        names[item] = None
    return tuple(names)


def _json_list(raw: str, *, field: str) -> list[object]:
    if len(raw) > _MAX_LIST_PARAMETER:
        raise QueryRefused(f"{field} is too long")
    try:
        items = json.loads(raw)
    except (ValueError, RecursionError):
        items = None
    if not isinstance(items, list):
        raise QueryRefused(f'{field} must be a JSON list, like ["a", "b"]')
    return items


def _page(raw: str) -> int:
    raw = raw.strip()
    if not raw:
        return 0
    if len(raw) > len(str(_MAX_PAGE)) or not (raw.isascii() and raw.isdigit()):
        raise QueryRefused("page must be a whole number from 0")
    if int(raw) > _MAX_PAGE:
        raise QueryRefused("page must be a whole number from 0")
    return int(raw)


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a JSON escape
        return False
    return True
