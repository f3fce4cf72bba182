import io
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F

from projects import generation
from projects.generation import postgresql, vocabulary
from projects.models import Event, IdentityLink, Profile
from tests.factories import ProjectFactory

USERS, EVENTS = 50, 2000
KNOWN_SOURCES = {
    "track/web 2.55.0",
    "track/swift 4.3.0",
    "track/android 7.3.0",
    "import/python 5.4.1",
}


def generate(project, *args: str, **options) -> str:
    out = io.StringIO()
    call_command("generate_events", "--project-token", project.token, *args, stdout=out, **options)
    return out.getvalue()


def generate_default(project, *, seed: int = 7, users: int = USERS, events: int = EVENTS) -> str:
    return generate(project, "--users", str(users), "--events", str(events), "--seed", str(seed))


def assert_flat_clusters(project) -> None:
    links = list(IdentityLink.objects.filter(project=project))
    members = [link.distinct_id for link in links]
    roots = {link.canonical_id for link in links}
    assert len(members) == len(set(members))  # each id in at most one cluster
    assert roots.isdisjoint(members)  # every member points at the root; the root has no row
    sizes = Counter(link.canonical_id for link in links)
    assert max(sizes.values()) + 1 <= 500
    profiled = set(Profile.objects.filter(project=project).values_list("distinct_id", flat=True))
    assert roots <= profiled  # the roots are the generated users
    for link in links:
        if link.kind == "device":
            assert re.fullmatch(r"\$device:[0-9a-f-]{36}", link.distinct_id)
        else:
            assert link.kind in {"alias", "merge"}


@pytest.mark.django_db
def test_generate_events_adds_exactly_the_requested_rows(project):
    output = generate_default(project)

    assert Event.objects.filter(project=project).count() == EVENTS
    assert Profile.objects.filter(project=project).count() == USERS
    links = IdentityLink.objects.filter(project=project)
    by_kind = dict(links.values_list("kind").annotate(n=Count("id")).order_by())
    assert set(by_kind) <= {"device", "alias", "merge"}
    assert by_kind.get("device", 0) >= 1
    assert f"Added to project {project.name!r}: 2,000 events, 50 profiles" in output
    assert f"{links.count():,} identity links" in output
    assert "Seed 7." in output


@pytest.mark.django_db
def test_every_user_has_events_with_a_heavy_skew(project):
    generate_default(project, users=200, events=10_000)

    profiles = set(Profile.objects.filter(project=project).values_list("distinct_id", flat=True))
    members = dict(
        IdentityLink.objects.filter(project=project).values_list("distinct_id", "canonical_id")
    )
    per_user = Counter()
    for distinct_id in Event.objects.filter(project=project).values_list("distinct_id", flat=True):
        per_user[members.get(distinct_id, distinct_id)] += 1
    assert set(per_user) == profiles  # every event belongs to a generated user's cluster
    counts = sorted(per_user.values(), reverse=True)
    assert counts[-1] >= 1
    assert counts[0] >= 20 * counts[len(counts) // 2]
    assert sum(counts[: len(counts) // 5]) >= 0.6 * sum(counts)  # a fifth make most events


@pytest.mark.django_db
def test_event_times_lie_in_the_window_and_never_in_the_future(project):
    before = datetime.now(tz=UTC).replace(microsecond=0)
    generate(project, "--users", "40", "--events", "1500", "--years", "1", "--seed", "3")
    after = datetime.now(tz=UTC)

    events = Event.objects.filter(project=project)
    earliest = min(events.values_list("time", flat=True))
    latest = max(events.values_list("time", flat=True))
    assert earliest >= before - timedelta(days=365.25, seconds=1)
    assert latest <= after
    assert max(events.values_list("ingested_at", flat=True)) <= after
    assert not events.filter(ingested_at__lt=F("time")).exists()
    # Spread over the window, not bunched at one end.
    assert latest - earliest > timedelta(days=180)


@pytest.mark.django_db
def test_identity_links_form_flat_clusters_with_events_under_their_ids(project):
    generate_default(project)

    assert_flat_clusters(project)
    members = set(
        IdentityLink.objects.filter(project=project).values_list("distinct_id", flat=True)
    )
    with_events = set(Event.objects.filter(project=project).values_list("distinct_id", flat=True))
    devices = {member for member in members if member.startswith("$device:")}
    assert devices and devices <= with_events  # the first events of a device user are anonymous


@pytest.mark.django_db
def test_events_have_unique_dedupe_keys_and_plausible_content(project):
    generate_default(project)

    rows = list(
        Event.objects.filter(project=project).values_list(
            "distinct_id", "time", "name", "insert_id", "properties", "source"
        )
    )
    assert len({row[:4] for row in rows}) == EVENTS
    assert len({row[3] for row in rows}) == EVENTS
    assert all(re.fullmatch(r"[0-9a-f]{32}", row[3]) for row in rows)
    names = Counter(row[2] for row in rows)
    assert names["Sign Up"] == USERS
    assert set(names) <= set(vocabulary.EVENT_NAMES)
    assert names["Page View"] > names["Purchase"] > 0
    assert {row[5] for row in rows} <= KNOWN_SOURCES
    for _, _, name, _, properties, source in rows:
        assert properties["mp_country_code"] and properties["$city"]
        if name == "Purchase":
            assert source == "import/python 5.4.1"
            assert properties["amount"] > 0 and properties["currency"]
        else:
            assert "$os" in properties
    profile = Profile.objects.filter(project=project).first()
    assert profile.properties["$name"] == (
        f"{profile.properties['$first_name']} {profile.properties['$last_name']}"
    )
    assert profile.properties["$email"].endswith(".example.com")


@pytest.mark.django_db
def test_a_rerun_adds_more_data_even_with_the_same_seed(project):
    generate_default(project, seed=11)
    first_users = set(Profile.objects.filter(project=project).values_list("distinct_id", flat=True))

    generate_default(project, seed=11)

    assert Event.objects.filter(project=project).count() == 2 * EVENTS
    assert Profile.objects.filter(project=project).count() == 2 * USERS
    all_users = set(Profile.objects.filter(project=project).values_list("distinct_id", flat=True))
    assert first_users < all_users
    assert_flat_clusters(project)


@pytest.mark.django_db
def test_a_seed_reproduces_the_data(organization):
    first, second = (
        ProjectFactory(organization=organization),
        ProjectFactory(organization=organization),
    )
    generate_default(first, seed=5)
    generate_default(second, seed=5)

    def content(project):
        return sorted(
            Event.objects.filter(project=project).values_list("distinct_id", "name", "insert_id")
        )

    assert content(first) == content(second)


@pytest.mark.django_db
def test_more_users_than_events_and_no_events(project):
    generate(project, "--users", "30", "--events", "10", "--seed", "1")
    assert Event.objects.filter(project=project).count() == 10
    assert Profile.objects.filter(project=project).count() == 30

    generate(project, "--users", "5", "--events", "0", "--seed", "2")
    assert Event.objects.filter(project=project).count() == 10
    assert Profile.objects.filter(project=project).count() == 35
    assert_flat_clusters(project)


@pytest.mark.django_db
def test_refuses_when_the_disk_lacks_room_and_writes_nothing(project):
    with pytest.raises(CommandError) as refused:
        generate(project, "--users", "10", "--events", "1000", assume_free_bytes=100_000)

    assert str(refused.value) == (
        "Not enough free disk space: 1,000 events for 10 users need about 693.8 KB, "
        "and only 100.0 KB is free (figure given)."
    )
    assert not Event.objects.filter(project=project).exists()
    assert not Profile.objects.filter(project=project).exists()
    assert not IdentityLink.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_enough_room_is_enough(project):
    needed = generation.generation_estimate_bytes(users=10, events=1000)
    generate(project, "--users", "10", "--events", "1000", assume_free_bytes=needed)
    assert Event.objects.filter(project=project).count() == 1000


@pytest.mark.django_db
def test_free_space_is_read_where_the_database_lives():
    free, place = generation.database_free_bytes()
    assert free > 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW data_directory")
            assert place == cursor.fetchone()[0]


@pytest.mark.django_db
def test_unknown_token_is_refused(project):
    with pytest.raises(CommandError, match="^No project has this token.$"):
        call_command("generate_events", "--project-token", "nope", "--users", "1", "--events", "1")
    assert not Profile.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "0", "--events", "5"], "argument --users: must be at least 1, not 0"),
        (["--users", "1", "--events", "-1"], "argument --events: must be at least 0, not -1"),
        (["--users", "1", "--events", "5", "--years", "0"], "argument --years: must be at least 1"),
        (["--users", "x", "--events", "5"], "argument --users: must be an integer, not 'x'"),
    ],
)
def test_bad_arguments_are_refused(project, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        generate(project, *args)
    assert not Profile.objects.exists()


def test_bad_arguments_exit_non_zero_with_one_line():
    finished = subprocess.run(
        [sys.executable, "manage.py", "generate_events", "--project-token", "t", "--users", "0",
         "--events", "5"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines() == [
        "manage.py generate_events: error: argument --users: must be at least 1, not 0"
    ]


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="parallel chunk inserts are the PostgreSQL path",
)
@pytest.mark.django_db(transaction=True)
def test_parallel_chunks_on_postgresql_add_exact_rows(monkeypatch):
    monkeypatch.setattr(postgresql, "EVENTS_PER_CHUNK", 700)
    project = ProjectFactory()

    output = generate(project, "--users", "60", "--events", "5000", "--workers", "2")

    assert Event.objects.filter(project=project).count() == 5000
    assert Profile.objects.filter(project=project).count() == 60
    assert "5,000 / 5,000 events (100%)" in output
    assert output.count(" events (") >= 5  # one progress line a chunk
    assert_flat_clusters(project)


@pytest.mark.django_db
def test_a_rerun_skips_a_cohort_whose_first_user_was_deleted(project):
    generate_default(project, seed=13)
    first_user = Profile.objects.filter(project=project).order_by("distinct_id").first()
    # As a deletion request would: the user's cluster goes, the rest of the cohort stays.
    members = list(
        IdentityLink.objects.filter(
            project=project, canonical_id=first_user.distinct_id
        ).values_list("distinct_id", flat=True)
    )
    Event.objects.filter(
        project=project, distinct_id__in=[first_user.distinct_id, *members]
    ).delete()
    IdentityLink.objects.filter(project=project, canonical_id=first_user.distinct_id).delete()
    first_user.delete()
    events_left = Event.objects.filter(project=project).count()

    output = generate_default(project, seed=13)

    assert "are taken in this project: drawing another" in output
    assert Event.objects.filter(project=project).count() == events_left + EVENTS
    assert Profile.objects.filter(project=project).count() == 2 * USERS - 1
    assert_flat_clusters(project)
