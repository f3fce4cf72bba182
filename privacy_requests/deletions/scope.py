"""What a CCPA deletion by Categories or Sources removes (issue 18): the parse of the chosen
categories or sources, shared by the API, the web form and the processor."""

from privacy_requests.errors import InvalidRequest
from privacy_requests.models import Compliance, Disclosure, RequestKind
from privacy_requests.property_categories import CATEGORIES

CATEGORY_KEYS = tuple(category.key for category in CATEGORIES)
# The profile's "source" in the export's sources.json; events carry their own `source`.
PROFILE_SOURCE = "engage"
MAX_SOURCE_LENGTH = 100


def deletion_scope_parse(
    *,
    kind: str,
    compliance: str,
    disclosure: str,
    categories: object = None,
    sources: object = None,
) -> list[str]:
    """The category keys or sources a request removes, or [] for everything. Raises
    InvalidRequest for a scope on anything but a CCPA deletion by that disclosure type."""
    given = categories if disclosure == Disclosure.CATEGORIES else sources
    other = sources if disclosure == Disclosure.CATEGORIES else categories
    if kind != RequestKind.DELETION or disclosure == Disclosure.DATA:
        if categories is not None or sources is not None:
            raise InvalidRequest(
                "categories and sources apply only to a CCPA deletion by Categories or Sources.",
                field="categories" if categories is not None else "sources",
            )
        return []
    if compliance != Compliance.CCPA:
        raise InvalidRequest(
            "A GDPR deletion always removes all data: disclosure_type must be absent or Data.",
            field="disclosure_type",
        )
    field = "categories" if disclosure == Disclosure.CATEGORIES else "sources"
    if other is not None:
        raise InvalidRequest(
            f"A deletion by {disclosure} takes {field}, not the other list.", field=field
        )
    if not isinstance(given, list) or not given or not all(isinstance(v, str) for v in given):
        raise InvalidRequest(
            f"A deletion by {disclosure} needs {field}: a non-empty list of names.", field=field
        )
    chosen = list(dict.fromkeys(value.strip() for value in given))
    if field == "categories":
        unknown = [value for value in chosen if value not in CATEGORY_KEYS]
        if unknown:
            raise InvalidRequest(
                f"Unknown categories {', '.join(unknown)}; known: {', '.join(CATEGORY_KEYS)}.",
                field=field,
            )
    elif any(not value or len(value) > MAX_SOURCE_LENGTH for value in chosen):
        raise InvalidRequest(
            f"Each source is 1 to {MAX_SOURCE_LENGTH} characters, as in sources.json.",
            field=field,
        )
    return chosen
