"""The ids of a CSV that was read, kept across a form error (issue 17, item 8).

A browser never keeps a chosen file after the form comes back with an error. When the CSV was
read but something else stopped the request (a deletion already in progress for some ids, an
invalid choice), its ids wait in the session, for the drafts' lifetime, under a key the page
posts back: the person submits again without choosing the file. A GET of the form, a CSV that
fails, or a draft made forgets them. The file itself is never stored."""

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest
from django.utils import timezone

from privacy_requests.services.drafts import DRAFT_LIFETIME

# What the form posts to use them: the key of the kept ids, as the page shows it.
KEPT_FIELD = "csv_kept"


@dataclass(frozen=True)
class KeptCsv:
    key: str
    name: str
    distinct_ids: list[str]

    @property
    def count(self) -> int:
        return len(self.distinct_ids)


def _session_key(*, organization_id: int, kind: str) -> str:
    return f"csv-kept:{organization_id}:{kind}"


def csv_keep(
    request: HttpRequest, *, organization_id: int, kind: str, name: str, distinct_ids: list[str]
) -> KeptCsv:
    kept = KeptCsv(key=secrets.token_urlsafe(12), name=name, distinct_ids=list(distinct_ids))
    request.session[_session_key(organization_id=organization_id, kind=kind)] = {
        "key": kept.key,
        "name": kept.name,
        "distinct_ids": kept.distinct_ids,
        "at": timezone.now().isoformat(),
    }
    return kept


def csv_kept_get(request: HttpRequest, *, organization_id: int, kind: str) -> KeptCsv | None:
    """The kept ids, if the post names them by their key and they are fresh."""
    stored = request.session.get(_session_key(organization_id=organization_id, kind=kind))
    if not stored or request.POST.get(KEPT_FIELD) != stored["key"]:
        return None
    if datetime.fromisoformat(stored["at"]) + DRAFT_LIFETIME < timezone.now():
        return None
    return KeptCsv(key=stored["key"], name=stored["name"], distinct_ids=stored["distinct_ids"])


def csv_kept_forget(request: HttpRequest, *, organization_id: int, kind: str) -> None:
    request.session.pop(_session_key(organization_id=organization_id, kind=kind), None)
