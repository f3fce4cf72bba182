"""Other databases (SQLite): the same plan carried out in Python with `bulk_create`, in the
caller's transaction or one of its own. Correct, and slower than the server-side path."""

import math
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import md5

from django.db import IntegrityError, transaction

from projects.generation.plan import CohortTaken, GenerationPlan, GenerationSummary, Progress
from projects.generation.vocabulary import (
    ALIAS_PER_1024,
    ANDROID_MODELS,
    BROWSERS,
    CITIES,
    CURRENCIES,
    DEVICE_PER_1024,
    EVENT_MIX,
    FIRST_NAMES,
    IOS_MODELS,
    LAST_NAMES,
    MERGE_PER_1024,
    PAGE_VIEW,
    PAGES,
    PLANS,
    PLATFORMS,
    PRODUCTS,
    SEARCH_TERMS,
    SERVER_LIB,
    SERVER_LIB_VERSION,
    SERVER_SOURCE,
    SIGN_UP,
    SIGNUP_METHODS,
    SITE,
    WEB_OSES,
)
from projects.models import Event, IdentityKind, IdentityLink, Profile

REPORT_EVERY = 100_000
PYTHON_BATCH = 5_000


@dataclass(frozen=True)
class _User:
    n: int
    uid: str
    email: str
    device_uuid: str | None
    alias: bool
    merged_id: str | None
    first_name: str
    last_name: str
    city: str
    country: str
    platform: int
    plan: str
    n_dev: int
    first_seen: int
    span: int
    client_props: dict
    server_props: dict


def _python_user(plan: GenerationPlan, n: int) -> _User:
    rng = random.Random(f"{plan.seed}:{plan.cohort}:{n}")  # noqa: S311 - synthetic data
    first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, country = rng.choice(CITIES)
    platform = rng.choices(range(len(PLATFORMS)), weights=[10, 3, 3])[0]
    device_uuid = (
        str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if rng.randrange(1024) < DEVICE_PER_1024
        else None
    )
    alias = rng.randrange(1024) < ALIAS_PER_1024
    merged_id = f"legacy-{plan.cohort}-{n}" if rng.randrange(1024) < MERGE_PER_1024 else None
    first_seen = plan.start + math.floor((plan.now - plan.start) * rng.random())
    span = max(1, math.floor((plan.now - first_seen) * (0.2 + 0.8 * rng.random())))
    client_props: dict[str, object] = {"$city": city, "mp_country_code": country}
    if platform == 0:
        client_props |= {"$os": rng.choice(WEB_OSES), "$browser": rng.choice(BROWSERS)}
    elif platform == 1:
        client_props |= {"$os": "iOS", "$model": rng.choice(IOS_MODELS)}
    else:
        client_props |= {"$os": "Android", "$model": rng.choice(ANDROID_MODELS)}
    _, _, lib, lib_version = PLATFORMS[platform]
    client_props |= {"mp_lib": lib, "$lib_version": lib_version}
    if device_uuid:
        client_props["$device_id"] = device_uuid
    server_props = {
        "$city": city,
        "mp_country_code": country,
        "mp_lib": SERVER_LIB,
        "$lib_version": SERVER_LIB_VERSION,
    }
    email = f"{first_name}.{last_name.replace(' ', '')}.{n}@{plan.cohort}.example.com".lower()
    return _User(
        n=n,
        uid=plan.user_id(n),
        email=email,
        device_uuid=device_uuid,
        alias=alias,
        merged_id=merged_id,
        first_name=first_name,
        last_name=last_name,
        city=city,
        country=country,
        platform=platform,
        plan=rng.choice(PLANS),
        n_dev=1 + rng.randrange(4),
        first_seen=first_seen,
        span=span,
        client_props=client_props,
        server_props=server_props,
    )


def _python_events(plan: GenerationPlan, user: _User) -> Iterator[Event]:
    first = plan.events_before(user.n)
    count = plan.events_before(user.n + 1) - first
    rng = random.Random(f"{plan.seed}:{plan.cohort}:{user.n}:events")  # noqa: S311
    signup_j = user.n_dev if user.device_uuid else 0
    mix_names = [name for name, _ in EVENT_MIX]
    mix_weights = [share for _, share in EVENT_MIX]
    for j in range(count):
        anonymous = user.device_uuid is not None and j < user.n_dev
        if j == signup_j:
            name = SIGN_UP
        elif anonymous:
            name = PAGE_VIEW
        else:
            name = rng.choices(mix_names, weights=mix_weights)[0]
        if anonymous:
            distinct_id = f"$device:{user.device_uuid}"
        elif j == signup_j:
            distinct_id = user.uid
        elif user.merged_id and j % 5 == 2:
            distinct_id = user.merged_id
        elif user.alias and j % 7 == 3:
            distinct_id = user.email
        else:
            distinct_id = user.uid
        at = user.first_seen + math.floor(user.span * (j + rng.random()) / count)
        sequence = first + j
        if name == "Purchase":
            properties = user.server_props | {
                "amount": float(round(5 + rng.randrange(65536) / 100, 2)),
                "currency": rng.choice(CURRENCIES),
                "items": 1 + rng.randrange(4),
                "order_id": "ord_" + _md5(f"{plan.cohort}:order:{sequence}")[:16],
            }
            source = SERVER_SOURCE
        else:
            properties = dict(user.client_props)
            source = PLATFORMS[user.platform][1]
            if name == PAGE_VIEW:
                properties["$current_url"] = SITE + rng.choice(PAGES)
            elif name == "Search":
                properties |= {"query": rng.choice(SEARCH_TERMS), "results": rng.randrange(64)}
            elif name == "Add To Cart":
                product, price = rng.choice(PRODUCTS)
                properties |= {
                    "product": product,
                    "price": float(price),
                    "quantity": 1 + rng.randrange(4),
                }
            elif name == SIGN_UP:
                properties |= {"method": rng.choice(SIGNUP_METHODS), "plan": user.plan}
            elif name == "Login":
                properties["method"] = rng.choice(SIGNUP_METHODS)
        yield Event(
            project_id=plan.project.id,
            distinct_id=distinct_id,
            name=name,
            time=datetime.fromtimestamp(at, tz=UTC),
            insert_id=_md5(f"{plan.cohort}:{sequence}"),
            properties=properties,
            source=source,
            ingested_at=datetime.fromtimestamp(min(at + 1 + rng.randrange(64), plan.now), tz=UTC),
        )


def _md5(text: str) -> str:
    return md5(text.encode(), usedforsecurity=False).hexdigest()


def generate_in_python(plan: GenerationPlan, say: Progress) -> GenerationSummary:
    summary = GenerationSummary(
        seed=plan.seed, cohort=plan.cohort, users=plan.users, events=0, profiles=0
    )
    try:
        with transaction.atomic():
            _python_rows_write(plan, say, summary)
    except IntegrityError as exc:
        raise CohortTaken from exc
    say(
        f"  {summary.profiles:,} profiles, "
        f"{sum(summary.identity_links.values()):,} identity links, {summary.events:,} events"
    )
    return summary


def _python_rows_write(plan: GenerationPlan, say: Progress, summary: GenerationSummary) -> None:
    created = datetime.fromtimestamp(plan.now, tz=UTC)
    started = time.monotonic()
    next_report = REPORT_EVERY
    profiles: list[Profile] = []
    links: list[IdentityLink] = []
    events: list[Event] = []
    for n in range(plan.users):
        user = _python_user(plan, n)
        profiles.append(_python_profile(plan, user, created))
        links.extend(_python_links(plan, user))
        events.extend(_python_events(plan, user))
        if len(events) >= PYTHON_BATCH or len(profiles) >= PYTHON_BATCH:
            _python_flush(profiles, links, events, summary)
            if summary.events >= next_report:
                next_report += REPORT_EVERY
                elapsed = time.monotonic() - started
                say(
                    f"  {summary.events:,} / {plan.events:,} events "
                    f"({summary.events * 100 // max(plan.events, 1)}%), {elapsed:.1f} s"
                )
    _python_flush(profiles, links, events, summary)


def _python_profile(plan: GenerationPlan, user: _User, created: datetime) -> Profile:
    return Profile(
        project_id=plan.project.id,
        distinct_id=user.uid,
        properties={
            "$first_name": user.first_name,
            "$last_name": user.last_name,
            "$name": f"{user.first_name} {user.last_name}",
            "$email": user.email,
            "$city": user.city,
            "$country_code": user.country,
            "$created": datetime.fromtimestamp(user.first_seen, tz=UTC).strftime(
                "%Y-%m-%dT%H:%M:%S"
            ),
            "plan": user.plan,
        },
        updated_at=created,
    )


def _python_links(plan: GenerationPlan, user: _User) -> list[IdentityLink]:
    at = datetime.fromtimestamp(user.first_seen, tz=UTC)
    members = []
    if user.device_uuid:
        members.append((f"$device:{user.device_uuid}", IdentityKind.DEVICE))
    if user.alias:
        members.append((user.email, IdentityKind.ALIAS))
    if user.merged_id:
        members.append((user.merged_id, IdentityKind.MERGE))
    return [
        IdentityLink(
            project_id=plan.project.id,
            distinct_id=member,
            canonical_id=user.uid,
            kind=kind,
            created_at=at,
        )
        for member, kind in members
    ]


def _python_flush(
    profiles: list[Profile],
    links: list[IdentityLink],
    events: list[Event],
    summary: GenerationSummary,
) -> None:
    Profile.objects.bulk_create(profiles, batch_size=1000)
    IdentityLink.objects.bulk_create(links, batch_size=1000)
    Event.objects.bulk_create(events, batch_size=1000)
    summary.events += len(events)
    summary.profiles += len(profiles)
    for link in links:
        summary.identity_links[link.kind] = summary.identity_links.get(link.kind, 0) + 1
    profiles.clear()
    links.clear()
    events.clear()
