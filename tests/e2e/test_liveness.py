"""Liveness a person and a load balancer can see, against a real `runserver`, real `rqworker`
processes, PostgreSQL and a redis-server of the test's own.

Without a worker /readyz answers 503 naming the worker, and the Data & Privacy page warns (in
Chromium) while a request waits; a worker that starts writes its heartbeat, names the request it
works on, makes /readyz 200 and the banner go; a worker stopped cleanly takes its heartbeat with
it. The request's email links to the address it was submitted through (no SITE_URL set).
"""

import os
import re
import socket
from http import HTTPStatus

import pytest
import requests
from allauth.account.models import EmailAddress

from accounts.models import Role
from accounts.services import gdpr_token_issue
from privacy_requests.models import PrivacyRequest, Status, WorkerHeartbeat
from tests.e2e.conftest import chromium_launch, poll_until, unused_port
from tests.e2e.test_browser import connections_closed_on_exit
from tests.factories import (
    DEFAULT_PASSWORD,
    EventFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e

HTTP_TIMEOUT = 10


@pytest.fixture
def site(database_url, redis_server, spawn, tmp_path):
    """A web server with no worker yet; `start_worker()` starts one on the same settings."""
    (tmp_path / "liveness_settings.py").write_text(
        "from config.settings.local import *  # noqa: F403\n"
        "WHITENOISE_USE_FINDERS = True\n"
        'PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]\n'
    )
    (tmp_path / "media").mkdir()
    port = unused_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "SITE_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="liveness_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), os.getcwd()]),
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        VAR_DIR=str(tmp_path / "var"),
        MEDIA_ROOT=str(tmp_path / "media"),
        PRIVACY_STORAGE="local",
        PRIVACY_SWEEP_INTERVAL="3600",
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
        PYTHONUNBUFFERED="1",
    )
    web = spawn("runserver", "--noreload", f"127.0.0.1:{port}", env=env)
    web.wait_for_http(f"{base_url}/healthz", timeout=30)

    def start_worker(**extra_env: str):
        worker = spawn("rqworker", "default", env={**env, **extra_env})
        worker.wait_for_line(r"Listening on", timeout=30)
        return worker

    return {"base_url": base_url, "start_worker": start_worker}


@pytest.fixture
def shop(transactional_db):
    owner = UserFactory(email="owner@example.com")
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    organization = OrganizationFactory(name="Acme")
    MembershipFactory(user=owner, organization=organization, role=Role.OWNER)
    project = ProjectFactory(organization=organization, name="Web shop")
    EventFactory.create_batch(3, project=project, distinct_id="alice")
    return {"owner": owner, "project": project, "token": gdpr_token_issue(user=owner)}


def readyz(base_url: str) -> requests.Response:
    return requests.get(f"{base_url}/readyz", timeout=HTTP_TIMEOUT)


def test_readyz_follows_a_real_worker_and_its_heartbeat_names_its_request(site, shop):
    base_url, project = site["base_url"], shop["project"]

    before = readyz(base_url)
    assert before.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert before.json() == {
        "status": "not ready",
        "checks": {"database": "ok", "redis": "ok", "worker": "failing"},
        "failing": ["worker"],
    }
    assert requests.get(f"{base_url}/healthz", timeout=HTTP_TIMEOUT).json() == {"status": "ok"}

    # Each processing step pauses a second, so the job runs long enough to be seen.
    worker = site["start_worker"](PRIVACY_STEP_DELAY_SECONDS="1")
    ready = poll_until(
        lambda: (response := readyz(base_url)).status_code == HTTPStatus.OK and response,
        timeout=15,
        message=lambda: f"/readyz never answered 200:\n{worker.output()}",
    )
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "worker": "ok"},
        "failing": [],
    }
    heartbeat = WorkerHeartbeat.objects.get()
    assert (heartbeat.host, heartbeat.pid) == (socket.gethostname(), worker.pid)
    assert heartbeat.current_tracking_id == ""

    created = requests.post(
        f"{base_url}/api/app/data-retrievals/v3.0/?token={project.token}",
        json={"distinct_ids": ["alice"]},
        headers={"Authorization": f"Bearer {shop['token']}"},
        timeout=HTTP_TIMEOUT,
    )
    assert created.status_code == HTTPStatus.CREATED, created.text
    tracking_id = created.json()["results"]["task_id"]
    poll_until(
        lambda: WorkerHeartbeat.objects.filter(current_tracking_id=tracking_id).exists(),
        timeout=15,
        message=lambda: f"the heartbeat never named {tracking_id}:\n{worker.output()}",
    )
    poll_until(
        lambda: PrivacyRequest.objects.get(tracking_id=tracking_id).status == Status.SUCCESS,
        timeout=60,
        message=lambda: f"the export did not finish:\n{worker.output()}",
    )
    poll_until(
        lambda: WorkerHeartbeat.objects.filter(current_tracking_id="").exists(),
        timeout=10,
        message="the heartbeat still names the finished request",
    )

    # No SITE_URL: the email links to the address the API was called at.
    request = PrivacyRequest.objects.get(tracking_id=tracking_id)
    assert request.site_url == base_url
    link = worker.wait_for_line(r"^\s+(https?://\S+/privacy/\S+/)$", timeout=10).group(1)
    assert link == f"{base_url}/orgs/{request.organization_id}/privacy/{tracking_id}/"

    # A clean stop removes the worker's heartbeat: not ready again, at once.
    assert worker.stop() is True
    assert not WorkerHeartbeat.objects.exists()
    after = readyz(base_url)
    assert after.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert after.json()["failing"] == ["worker"]


def test_the_page_warns_in_a_browser_when_no_worker_runs_while_a_request_waits(
    site, shop, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs a loop
    from playwright.sync_api import expect, sync_playwright

    base_url = site["base_url"]
    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        page.goto(f"{base_url}/accounts/login/")
        page.fill("input[name=login]", shop["owner"].email)
        page.fill("input[name=password]", DEFAULT_PASSWORD)
        page.locator("form button[type=submit]").click()
        expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()

        nav = page.get_by_role("navigation", name="Main")
        nav.get_by_role("link", name="Data & Privacy").click()
        expect(page.get_by_role("heading", name="Data & Privacy", exact=True)).to_be_visible()
        expect(page.get_by_role("alert")).to_have_count(0)  # nothing waits: no banner

        page.get_by_role("link", name="Request Export").click()
        page.get_by_label("distinct_id", exact=True).fill("alice")
        page.get_by_role("button", name="Preview export").click()
        page.get_by_role("button", name="Export the data of 1 subject (1 id)").click()
        expect(page.get_by_text("Export requested for 1 id.")).to_be_visible()
        # The request's own page warns too: that is where its submitter watches it.
        expect(page.get_by_role("alert")).to_contain_text("No worker is running.")

        nav.get_by_role("link", name="Data & Privacy").click()
        banner = page.get_by_role("alert")
        expect(banner).to_be_visible()
        expect(banner).to_have_text(
            re.compile(
                r"^\s*No worker is running\.\s+1 request is waiting, and no worker has been "
                r"seen\s+at all\.\s+Requests stay at “Waiting for a worker” until one runs"
            )
        )
        expect(page.locator("tbody tr [data-field=progress-text]")).to_have_text(
            "Waiting for a worker"
        )

        # A worker starts: the request is taken and the banner goes.
        worker = site["start_worker"]()
        poll_until(
            lambda: PrivacyRequest.objects.get().status == Status.SUCCESS,
            timeout=60,
            message=lambda: f"the export did not finish:\n{worker.output()}",
        )
        page.reload()
        expect(page.get_by_role("heading", name="Data & Privacy", exact=True)).to_be_visible()
        expect(page.get_by_role("alert")).to_have_count(0)
        browser.close()
