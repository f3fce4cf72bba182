"""PostgreSQL: the server makes every row (`INSERT ... SELECT` over `generate_series`), events in
chunks of about a million, committed one by one and spread over a few connections."""

import queue
import threading
import time
from collections.abc import Callable, Iterator

from django.db import IntegrityError, connection, transaction

from projects.generation.plan import CohortTaken, GenerationPlan, GenerationSummary, Progress
from projects.generation.vocabulary import (
    ALIAS_PER_1024,
    ANDROID_MODELS,
    BROWSERS,
    CITIES,
    CURRENCIES,
    DEVICE_PER_1024,
    FIRST_NAMES,
    IOS_MODELS,
    LAST_NAMES,
    MERGE_PER_1024,
    PAGES,
    PLANS,
    PLATFORMS,
    PRODUCTS,
    SEARCH_TERMS,
    SERVER_LIB,
    SERVER_LIB_VERSION,
    SERVER_SOURCE,
    SIGNUP_METHODS,
    SITE,
    SKEW,
    WEB_OSES,
)

EVENTS_PER_CHUNK = 1_000_000

# One row per user of the range [u0, u1): every per-user attribute, computed once (MATERIALIZED)
# so that the events joined to it do not recompute them. Random bits come from
# hashint8extended(n, seed), so a seed reproduces a run whatever the chunking.
_PG_USERS = """
users AS MATERIALIZED (
    SELECT
        u, uid, has_device, has_alias, has_merge, n_dev, first_seen,
        GREATEST(1, floor((%(now)s - first_seen) * (0.2 + 0.8 * activity)))::bigint AS span,
        CASE WHEN has_device THEN n_dev ELSE 0 END AS signup_j,
        '$device:' || device_uuid AS device_id,
        lower(first_name || '.' || replace(last_name, ' ', '') || '.' || u || '@'
              || %(cohort)s || '.example.com') AS email,
        'legacy-' || %(cohort)s || '-' || u AS merged_id,
        first_name, last_name, city, country, platform, plan,
        jsonb_build_object('$city', city, 'mp_country_code', country)
            || CASE platform
                WHEN 0 THEN jsonb_build_object('$os', web_os, '$browser', browser)
                WHEN 1 THEN jsonb_build_object('$os', 'iOS', '$model', ios_model)
                ELSE jsonb_build_object('$os', 'Android', '$model', android_model)
               END
            || jsonb_build_object('mp_lib', (%(libs)s::text[])[platform + 1],
                                  '$lib_version', (%(lib_versions)s::text[])[platform + 1])
            || CASE WHEN has_device THEN jsonb_build_object('$device_id', device_uuid)
                    ELSE '{}'::jsonb END AS client_props,
        jsonb_build_object('$city', city, 'mp_country_code', country, 'mp_lib', %(server_lib)s,
                           '$lib_version', %(server_lib_version)s) AS server_props,
        (%(sources)s::text[])[platform + 1] AS client_source,
        CASE WHEN u >= %(users)s THEN %(events)s
             ELSE %(base)s * u + floor(%(extra)s * ln(1.0::float8 + %(skew)s * u / %(users)s)
                                       / ln(1.0::float8 + %(skew)s))::bigint
        END AS cum_a,
        CASE WHEN u + 1 >= %(users)s THEN %(events)s
             ELSE %(base)s * (u + 1) + floor(%(extra)s * ln(1.0::float8 + %(skew)s * (u + 1)
                                             / %(users)s) / ln(1.0::float8 + %(skew)s))::bigint
        END AS cum_b
    FROM (
        SELECT
            u,
            'user-' || %(cohort)s || '-' || lpad(u::text, %(width)s, '0') AS uid,
            (h1 & 1023) < %(device_per_1024)s AS has_device,
            ((h1 >> 10) & 1023) < %(alias_per_1024)s AS has_alias,
            ((h1 >> 20) & 1023) < %(merge_per_1024)s AS has_merge,
            (%(first_names)s::text[])[1 + ((h1 >> 30) & 15)] AS first_name,
            (%(last_names)s::text[])[1 + ((h1 >> 34) & 15)] AS last_name,
            (%(cities)s::text[])[1 + ((h1 >> 38) & 15)] AS city,
            (%(countries)s::text[])[1 + ((h1 >> 38) & 15)] AS country,
            CASE WHEN ((h1 >> 42) & 15) < 10 THEN 0
                 WHEN ((h1 >> 42) & 15) < 13 THEN 1 ELSE 2 END AS platform,
            (%(browsers)s::text[])[1 + ((h1 >> 46) & 3)] AS browser,
            (%(web_oses)s::text[])[1 + ((h1 >> 48) & 3)] AS web_os,
            (%(ios_models)s::text[])[1 + ((h1 >> 46) & 3)] AS ios_model,
            (%(android_models)s::text[])[1 + ((h1 >> 46) & 3)] AS android_model,
            1 + ((h1 >> 50) & 3) AS n_dev,
            (%(plans)s::text[])[1 + ((h1 >> 52) & 7)] AS plan,
            %(start)s + floor((%(now)s - %(start)s)
                              * ((h2 & 4294967295)::float8 / 4294967296::float8))::bigint
                AS first_seen,
            ((h2 >> 32) & 4294967295)::float8 / 4294967296::float8 AS activity,
            (substr(m, 1, 8) || '-' || substr(m, 9, 4) || '-4' || substr(m, 14, 3) || '-a'
             || substr(m, 18, 3) || '-' || substr(m, 21, 12)) AS device_uuid
        FROM (
            SELECT u, hashint8extended(u, %(seed)s) AS h1,
                   hashint8extended(u, %(seed)s + 1) AS h2,
                   md5('device:' || %(cohort)s || ':' || u) AS m
            FROM generate_series(%(u0)s::bigint, %(u1)s::bigint - 1) AS u
            OFFSET 0
        ) AS hashed
        OFFSET 0
    ) AS drawn
)
"""

_PG_EVENTS = (
    "WITH"  # noqa: S608 - constant SQL text; every value is a bound parameter
    + _PG_USERS
    + """,
occurrences AS (
    SELECT users.*, j, hashint8extended(users.cum_a + j, %(seed)s + 2) AS he
    FROM users CROSS JOIN LATERAL generate_series(0, users.cum_b - users.cum_a - 1) AS j
    OFFSET 0
),
shaped AS (
    SELECT
        occurrences.*,
        CASE WHEN j = signup_j THEN 'Sign Up'
             WHEN has_device AND j < n_dev THEN 'Page View'
             ELSE CASE WHEN mod(he & 127, 100) < 55 THEN 'Page View'
                       WHEN mod(he & 127, 100) < 70 THEN 'Search'
                       WHEN mod(he & 127, 100) < 82 THEN 'Add To Cart'
                       WHEN mod(he & 127, 100) < 92 THEN 'Login'
                       ELSE 'Purchase' END
        END AS name,
        CASE WHEN has_device AND j < n_dev THEN device_id
             WHEN j = signup_j THEN uid
             WHEN has_merge AND mod(j, 5) = 2 THEN merged_id
             WHEN has_alias AND mod(j, 7) = 3 THEN email
             ELSE uid
        END AS distinct_id,
        first_seen + floor(span * ((j + ((he >> 8) & 16777215)::float8 / 16777216::float8)
                                   / (cum_b - cum_a)))::bigint AS t
    FROM occurrences
    OFFSET 0
)
INSERT INTO projects_event
    (project_id, distinct_id, name, time, insert_id, properties, source, ingested_at)
SELECT
    %(project)s, distinct_id, name, to_timestamp(t),
    md5(%(cohort)s || ':' || (cum_a + j)),
    CASE WHEN name = 'Purchase' THEN server_props ELSE client_props END
    || CASE name
        WHEN 'Page View' THEN jsonb_build_object(
            '$current_url', %(site)s || (%(pages)s::text[])[1 + ((he >> 32) & 7)])
        WHEN 'Search' THEN jsonb_build_object(
            'query', (%(search_terms)s::text[])[1 + mod((he >> 32) & 1023, 12)],
            'results', (he >> 42) & 63)
        WHEN 'Add To Cart' THEN jsonb_build_object(
            'product', (%(products)s::text[])[1 + ((he >> 32) & 7)],
            'price', (%(prices)s::numeric[])[1 + ((he >> 32) & 7)],
            'quantity', 1 + ((he >> 36) & 3))
        WHEN 'Purchase' THEN jsonb_build_object(
            'amount', round((5 + ((he >> 32) & 65535)::numeric / 100), 2),
            'currency', (%(currencies)s::text[])[1 + ((he >> 48) & 7)],
            'items', 1 + ((he >> 52) & 3),
            'order_id', 'ord_' || substr(md5(%(cohort)s || ':order:' || (cum_a + j)), 1, 16))
        WHEN 'Sign Up' THEN jsonb_build_object(
            'method', (%(signup_methods)s::text[])[1 + ((he >> 32) & 3)], 'plan', plan)
        WHEN 'Login' THEN jsonb_build_object(
            'method', (%(signup_methods)s::text[])[1 + ((he >> 32) & 3)])
       END,
    CASE WHEN name = 'Purchase' THEN %(server_source)s ELSE client_source END,
    to_timestamp(LEAST(t + 1 + ((he >> 56) & 63), %(now)s))
FROM shaped
"""
)

_PG_PROFILES = (
    "WITH"  # noqa: S608 - constant SQL text; every value is a bound parameter
    + _PG_USERS
    + """
INSERT INTO projects_profile (project_id, distinct_id, properties, updated_at)
SELECT
    %(project)s, uid,
    jsonb_build_object(
        '$first_name', first_name, '$last_name', last_name,
        '$name', first_name || ' ' || last_name, '$email', email,
        '$city', city, '$country_code', country,
        '$created', to_char(to_timestamp(first_seen) AT TIME ZONE 'UTC',
                            'YYYY-MM-DD"T"HH24:MI:SS'),
        'plan', plan),
    to_timestamp(%(now)s)
FROM users
"""
)

_PG_LINKS = (
    "WITH"  # noqa: S608 - constant SQL text; every value is a bound parameter
    + _PG_USERS
    + """,
inserted AS (
INSERT INTO projects_identitylink (project_id, distinct_id, canonical_id, kind, created_at)
SELECT %(project)s, link.distinct_id, users.uid, link.kind, to_timestamp(first_seen)
FROM users CROSS JOIN LATERAL (VALUES
    (device_id, 'device', has_device),
    (email, 'alias', has_alias),
    (merged_id, 'merge', has_merge)
) AS link (distinct_id, kind, present)
WHERE link.present
RETURNING kind
)
SELECT kind, count(*) FROM inserted GROUP BY kind ORDER BY kind
"""
)


def _pg_params(plan: GenerationPlan) -> dict[str, object]:
    return {
        "project": plan.project.id,
        "seed": plan.seed,
        "cohort": plan.cohort,
        "width": plan.id_width,
        "users": plan.users,
        "events": plan.events,
        "base": plan.base,
        "extra": plan.events - plan.base * plan.users,
        "skew": SKEW,
        "now": plan.now,
        "start": plan.start,
        "device_per_1024": DEVICE_PER_1024,
        "alias_per_1024": ALIAS_PER_1024,
        "merge_per_1024": MERGE_PER_1024,
        "first_names": FIRST_NAMES,
        "last_names": LAST_NAMES,
        "cities": [city for city, _ in CITIES],
        "countries": [country for _, country in CITIES],
        "browsers": BROWSERS,
        "web_oses": WEB_OSES,
        "ios_models": IOS_MODELS,
        "android_models": ANDROID_MODELS,
        "plans": PLANS,
        "libs": [lib for _, _, lib, _ in PLATFORMS],
        "lib_versions": [version for _, _, _, version in PLATFORMS],
        "sources": [source for _, source, _, _ in PLATFORMS],
        "server_lib": SERVER_LIB,
        "server_lib_version": SERVER_LIB_VERSION,
        "server_source": SERVER_SOURCE,
        "site": SITE,
        "pages": PAGES,
        "search_terms": SEARCH_TERMS,
        "products": [name for name, _ in PRODUCTS],
        "prices": [price for _, price in PRODUCTS],
        "currencies": CURRENCIES,
        "signup_methods": SIGNUP_METHODS,
    }


def generate_on_postgresql(plan: GenerationPlan, say: Progress, workers: int) -> GenerationSummary:
    params = _pg_params(plan)
    summary = GenerationSummary(
        seed=plan.seed, cohort=plan.cohort, users=plan.users, events=0, profiles=0
    )
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_PG_PROFILES, {**params, "u0": 0, "u1": plan.users})
            summary.profiles = cursor.rowcount
            cursor.execute(_PG_LINKS, {**params, "u0": 0, "u1": plan.users})
            summary.identity_links = {kind: count for kind, count in cursor.fetchall()}
    except IntegrityError as exc:
        raise CohortTaken from exc
    say(f"  {summary.profiles:,} profiles, {sum(summary.identity_links.values()):,} identity links")
    chunks = list(_chunks(plan)) if plan.events else []
    started = time.monotonic()

    def report(rows: int) -> None:
        summary.events += rows
        elapsed = time.monotonic() - started
        say(
            f"  {summary.events:,} / {plan.events:,} events "
            f"({summary.events * 100 // max(plan.events, 1)}%), {elapsed:.1f} s, "
            f"{summary.events / max(elapsed, 1e-9):,.0f} events/s"
        )

    if connection.in_atomic_block or workers <= 1 or len(chunks) <= 1:
        # Inside the caller's transaction every row must go through the caller's connection.
        for u0, u1 in chunks:
            report(_pg_events_insert(params, u0, u1))
    else:
        _pg_events_insert_parallel(params, chunks, workers=workers, report=report)
    return summary


def _pg_events_insert(params: dict[str, object], u0: int, u1: int) -> int:
    own_transaction = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if own_transaction:  # SET LOCAL would outlive a savepoint, into the caller's transaction
            # A chunk's users (up to all of them) are materialized once; keep them in memory.
            cursor.execute("SET LOCAL work_mem = '64MB'")
            # Losing the last chunks in a crash is harmless for generated data; waiting on each
            # commit's WAL flush is not free.
            cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(_PG_EVENTS, {**params, "u0": u0, "u1": u1})
        return cursor.rowcount


def _pg_events_insert_parallel(
    params: dict[str, object],
    chunks: list[tuple[int, int]],
    *,
    workers: int,
    report: Callable[[int], None],
) -> None:
    """Inserts the chunks over `workers` connections of their own, one transaction a chunk."""
    pending: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
    for chunk in chunks:
        pending.put(chunk)
    done: queue.SimpleQueue[int | BaseException] = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                try:
                    u0, u1 = pending.get_nowait()
                except queue.Empty:
                    return
                done.put(_pg_events_insert(params, u0, u1))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, re-raised there
            done.put(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(workers, len(chunks)))]
    for thread in threads:
        thread.start()
    failure: BaseException | None = None
    try:
        for _ in chunks:
            outcome = done.get()
            if isinstance(outcome, BaseException):
                failure = outcome
                break
            report(outcome)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if failure is not None:
        raise failure


def _chunks(plan: GenerationPlan) -> Iterator[tuple[int, int]]:
    """Ranges of users [first, last) holding about EVENTS_PER_CHUNK events each."""
    first = 0
    while first < plan.users:
        target = plan.events_before(first) + EVENTS_PER_CHUNK
        low, high = first + 1, plan.users
        while low < high:  # the smallest n with events_before(n) >= target, at most users
            middle = (low + high) // 2
            if plan.events_before(middle) >= target:
                high = middle
            else:
                low = middle + 1
        yield first, low
        first = low
