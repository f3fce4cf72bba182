"""Session ids of the engage query: what keeps page 5 consistent with page 0.

The first page of a query issues one; the client sends it back, with the same parameters, for
every later page (Mixpanel's documented algorithm, and what `mixpanel-utils` does). It is
signed and expires after an hour, and it holds:

- the project, so a session never serves another project;
- a digest of the selection, so it fits only the query it was issued for (the query itself
  does not fit: a list of 2,000 distinct_ids would not fit in a URL);
- the highest profile id at the first page: profiles created later are left out of every page
  of the session, so they cannot shift the pages;
- the total of the first page, so later pages do not count again.

Beside it, in the cache and expiring with it, the distinct_id that starts each page
(selectors.py): an accelerator, never the source of truth. Without it a later page is still
right; it costs one walk of the selection to find the starts again.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.core import signing
from django.core.cache import cache
from redis import RedisError

from projects.engage_query.errors import QueryRefused

SESSION_MAX_AGE = timedelta(hours=1)
logger = logging.getLogger(__name__)

_SALT = "projects.engage_query.session"
_MAX_LENGTH = 512


@dataclass(frozen=True)
class QuerySession:
    project_id: int
    selection_digest: str
    last_profile_id: int
    total: int


def session_id_issue(session: QuerySession) -> str:
    return signing.dumps(
        [session.project_id, session.selection_digest, session.last_profile_id, session.total],
        salt=_SALT,
    )


def session_id_read(*, session_id: str, project_id: int, selection_digest: str) -> QuerySession:
    """The session, if it was issued for this project and this selection and has not expired;
    raises QueryRefused otherwise, without saying whose it was."""
    if len(session_id) > _MAX_LENGTH or not session_id.isascii():
        raise QueryRefused("session_id is not valid")
    try:
        fields = signing.loads(session_id, salt=_SALT, max_age=SESSION_MAX_AGE)
    except signing.SignatureExpired:
        raise QueryRefused("session_id has expired: query again from page 0") from None
    except signing.BadSignature:
        raise QueryRefused("session_id is not valid") from None
    session = QuerySession(*fields)
    if session.project_id != project_id:
        raise QueryRefused("session_id is not valid")
    if session.selection_digest != selection_digest:
        raise QueryRefused(
            "session_id belongs to another query: send the first page's distinct_id, "
            "distinct_ids and where with it"
        )
    return session


def page_starts_remember(*, session_id: str, starts: list[str]) -> None:
    try:
        cache.set(_starts_key(session_id), starts, timeout=SESSION_MAX_AGE.total_seconds())
    except RedisError as error:
        logger.warning("engage query: page starts not cached (%s); later pages walk again", error)


def page_starts_recall(*, session_id: str) -> list[str] | None:
    try:
        starts = cache.get(_starts_key(session_id))
    except RedisError as error:
        logger.warning("engage query: page starts not read from the cache (%s)", error)
        return None
    return starts if isinstance(starts, list) else None


def _starts_key(session_id: str) -> str:
    return "engage-query:page-starts:" + hashlib.sha256(session_id.encode()).hexdigest()
