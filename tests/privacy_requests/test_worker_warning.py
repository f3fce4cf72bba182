"""The "no worker" banner on the Data & Privacy page and the back office's index, and the back
office's read-only list of workers."""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from privacy_requests.models import PrivacyRequest, Status, WorkerHeartbeat
from tests.admin_support import sign_in_with_mfa, staff_user
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory
from tests.privacy_requests.web_support import detail_url, list_url

pytestmark = pytest.mark.django_db

BANNER = 'id="worker-warning"'


@pytest.fixture(autouse=True)
def jobs_on_a_worker(settings):
    """As production runs: jobs wait for a worker (in tests they otherwise run in process)."""
    settings.JOBS_SYNC = False


@pytest.fixture
def owner_client(client, owner_actor):
    client.force_login(owner_actor.user)
    return client


def heartbeat(*, ago: timedelta, name: str = "w1", current: str = "") -> WorkerHeartbeat:
    now = timezone.now()
    return WorkerHeartbeat.objects.create(
        name=name,
        host="worker-host-1",
        pid=321,
        started_at=now - ago - timedelta(hours=1),
        last_seen_at=now - ago,
        current_tracking_id=current,
    )


def set_state(request, *, status, not_before=None) -> None:
    changes = {"status": status}
    if not_before is not None:
        changes["not_before"] = not_before
    PrivacyRequest.objects.filter(id=request.id).update(**changes)


def banner_text(html: str) -> str:
    match = re.search(
        r'<div class="notice" role="alert" id="worker-warning">(.*?)</div>', html, re.S
    )
    assert match, "no banner"
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


def test_the_page_warns_when_no_worker_was_ever_seen_and_a_request_waits(
    owner_client, organization, submit
):
    submit()
    submit(distinct_ids=("bob",))

    response = owner_client.get(list_url(organization))

    assert response.status_code == HTTPStatus.OK
    assert banner_text(response.content.decode()) == (
        "No worker is running. 2 requests are waiting, and no worker has been seen at all. "
        "Requests stay at “Waiting for a worker” until one runs: tell whoever runs this site."
    )


def test_the_page_warns_when_the_last_worker_was_seen_over_two_minutes_ago(
    owner_client, organization, submit
):
    submit()
    last = heartbeat(ago=timedelta(minutes=3)).last_seen_at

    response = owner_client.get(list_url(organization))

    assert banner_text(response.content.decode()) == (
        "No worker is running. 1 request is waiting, and no worker has been seen since "
        f"{last:%Y-%m-%d %H:%M} UTC. Requests stay at “Waiting for a worker” until one runs: "
        "tell whoever runs this site."
    )


@pytest.mark.parametrize("ago", [timedelta(seconds=5), timedelta(seconds=110)])
def test_no_banner_while_a_worker_beats(owner_client, organization, submit, ago):
    submit()
    heartbeat(ago=timedelta(minutes=30), name="old")
    heartbeat(ago=ago, name="alive")

    response = owner_client.get(list_url(organization))

    assert BANNER not in response.content.decode()


@pytest.mark.parametrize("status", [Status.STARTED, Status.SUCCESS, Status.FAILURE, Status.REVOKED])
def test_no_banner_when_no_request_waits(owner_client, organization, submit, status):
    set_state(submit(), status=status)

    response = owner_client.get(list_url(organization))

    assert BANNER not in response.content.decode()


def test_a_deletion_in_its_grace_period_is_not_waiting_but_one_past_it_is(
    owner_client, organization, submit
):
    request = submit(kind="deletion")
    set_state(request, status=Status.STAGING, not_before=timezone.now() + timedelta(hours=1))
    assert BANNER not in owner_client.get(list_url(organization)).content.decode()

    set_state(request, status=Status.STAGING, not_before=timezone.now() - timedelta(seconds=1))

    assert BANNER in owner_client.get(list_url(organization)).content.decode()


def test_another_organizations_waiting_requests_raise_no_banner(client, submit):
    submit()  # waits, in the fixture's organization
    other = ProjectFactory(organization=OrganizationFactory())
    owner = MembershipFactory(organization=other.organization, role=Role.OWNER).user
    client.force_login(owner)

    response = client.get(list_url(other.organization))

    assert response.status_code == HTTPStatus.OK
    assert BANNER not in response.content.decode()


def test_no_banner_when_jobs_run_in_the_web_process(owner_client, organization, submit, settings):
    settings.JOBS_SYNC = True
    submit()

    assert BANNER not in owner_client.get(list_url(organization)).content.decode()


@pytest.fixture
def staff_client(client):
    sign_in_with_mfa(client, staff_user())
    return client


def test_the_back_office_index_warns_when_no_worker_runs_while_requests_wait(staff_client, submit):
    submit()

    html = staff_client.get(reverse("admin:index")).content.decode()

    assert BANNER in html
    match = re.search(r'id="worker-warning">(.*?)</li>', html, re.S)
    text = " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())
    assert text == (
        "No worker has been seen at all, and 1 request is waiting. Start one with "
        "manage.py rqworker default; Workers lists the ones last seen."
    )
    assert reverse("admin:privacy_requests_workerheartbeat_changelist") in match.group(1)


def test_the_back_office_index_has_no_banner_with_a_live_worker_or_nothing_waiting(
    staff_client, submit
):
    assert BANNER not in staff_client.get(reverse("admin:index")).content.decode()
    submit()
    heartbeat(ago=timedelta(seconds=20))

    assert BANNER not in staff_client.get(reverse("admin:index")).content.decode()


def test_the_back_office_lists_each_worker_with_its_current_request(staff_client, submit):
    request = submit()
    heartbeat(ago=timedelta(seconds=10), name="rq:worker:alive", current=request.tracking_id)
    heartbeat(ago=timedelta(minutes=10), name="rq:worker:gone")

    response = staff_client.get(reverse("admin:privacy_requests_workerheartbeat_changelist"))

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    rows = re.findall(r"<tr>.*?</tr>", html.split("<tbody>")[1], re.S)
    assert len(rows) == 2
    alive, gone = rows
    assert "rq:worker:alive" in alive and "worker-host-1" in alive and ">321<" in alive
    assert "running" in alive
    seconds = re.search(r"\((\d+) seconds ago\)", alive)
    assert seconds and 10 <= int(seconds.group(1)) < 60  # a busy machine may take a while
    change_url = reverse("admin:privacy_requests_privacyrequest_change", args=[request.id])
    assert f'<a href="{change_url}">{request.tracking_id}</a>' in alive
    assert "rq:worker:gone" in gone and "not seen lately" in gone and "10\xa0minutes ago" in gone


def test_the_back_office_cannot_add_change_or_delete_a_worker(staff_client):
    row = heartbeat(ago=timedelta(seconds=10))
    before = list(WorkerHeartbeat.objects.values())

    add = staff_client.get(reverse("admin:privacy_requests_workerheartbeat_add"))
    delete = staff_client.post(
        reverse("admin:privacy_requests_workerheartbeat_delete", args=[row.id]), {"post": "yes"}
    )
    change = staff_client.post(
        reverse("admin:privacy_requests_workerheartbeat_change", args=[row.id]), {"host": "x"}
    )

    assert add.status_code == HTTPStatus.FORBIDDEN
    assert delete.status_code == HTTPStatus.FORBIDDEN
    assert change.status_code == HTTPStatus.FORBIDDEN
    assert list(WorkerHeartbeat.objects.values()) == before


def test_the_page_of_a_waiting_request_warns_and_a_finished_ones_does_not(owner_client, submit):
    waiting = submit()
    done = submit(distinct_ids=("bob",))
    set_state(done, status=Status.SUCCESS)

    waiting_page = owner_client.get(detail_url(waiting)).content.decode()
    done_page = owner_client.get(detail_url(done)).content.decode()

    assert banner_text(waiting_page).startswith("No worker is running. 1 request is waiting,")
    assert BANNER not in done_page
