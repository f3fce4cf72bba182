"""The Content-Security-Policy in a real browser (issue 15, finding 8): Debian's Chromium through
Playwright against a real `runserver` with the local settings (DEBUG off), on PostgreSQL.

Every HTML page of the site is opened signed out, as an owner and as staff (the back office's
lists, forms and queue dashboard), and the browser reports each `securitypolicyviolation` event
and each request to another origin: there must be none. The API docs (Swagger UI, ReDoc), which
loaded fonts and ran inline scripts, render their operations from our own static files.
"""

import contextlib
import os
import re
import time
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib import admin
from django.db import connections
from django.urls import reverse

from accounts.actors import Actor
from accounts.invitations import invitation_create
from accounts.models import Role
from config.api_docs import REDOC_STYLE_HASHES
from privacy_requests.models import PrivacyRequest, RequestKind
from privacy_requests.services import privacy_request_submit
from privacy_requests.services.drafts import request_draft_create
from tests.admin_support import fresh_totp_code, staff_user
from tests.e2e.conftest import chromium_launch, unused_port
from tests.factories import (
    DEFAULT_PASSWORD,
    EventFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
)

pytestmark = pytest.mark.e2e

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# django-rq's dashboard (config/csp.py): its one inline script by hash, and inline styles.
RQ_DASHBOARD = POLICY.replace(
    "script-src 'self'", "script-src 'self' 'sha256-1kZe1KRxelr3ptMPsod17Z6BDvbtm4WcufgsZGvsErM='"
).replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
# Reported by the page itself, before any script of ours runs.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} ` +
    `(${event.sourceFile}:${event.lineNumber}) ${event.sample}`
  );
});
"""
# Pages that are no HTML page of ours: JSON, files, redirects that only act.
NOT_PAGES = re.compile(
    r"^(api/(app|requests|schema|2\.0|query)|healthz|readyz|downloads/|accounts/logout/|"
    r".*/status/$|.*stats\.json|accounts/2fa/recovery-codes/download/)"
)


@pytest.fixture
def site(database_url, redis_server, spawn, tmp_path):
    (tmp_path / "csp_settings.py").write_text(
        "from config.settings.local import *  # noqa: F403\n"
        "WHITENOISE_USE_FINDERS = True\n"
        "# Users made by the test process have MD5 hashes (the test settings' fast hasher).\n"
        'PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]\n'
    )
    port = unused_port()  # not free_port: the test's redis-server holds that one
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="csp_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(settings.BASE_DIR)]),
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        VAR_DIR=str(tmp_path / "var"),
        PRIVACY_ADMIN_REQUIRE_MFA="1",
        PRIVACY_SWEEP_INTERVAL="3600",
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
        PYTHONUNBUFFERED="1",
    )
    web = spawn("runserver", "--noreload", f"127.0.0.1:{port}", env=env)
    web.wait_for_http(f"{base_url}/healthz", timeout=30)
    return {"base_url": base_url, "web": web}


@pytest.fixture
def world(transactional_db):
    """An owner (address confirmed) with a project, events, an export that finished (jobs run in
    process here), a deletion draft, an invitation; and a staff user with TOTP."""
    organization = OrganizationFactory(name="Acme")
    owner = MembershipFactory(organization=organization, role=Role.OWNER).user
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    project = ProjectFactory(organization=organization, name="Web shop")
    EventFactory.create_batch(3, project=project, distinct_id="alice")
    actor = Actor(user=owner, via="web")
    export = privacy_request_submit(
        project=project,
        actor=actor,
        channel="web",
        kind=RequestKind.EXPORT,
        compliance="GDPR",
        distinct_ids=["alice"],
    )
    draft = request_draft_create(
        actor=actor, project=project, kind="deletion", compliance="GDPR", distinct_ids=["alice"]
    )
    _, token = invitation_create(
        actor=actor, organization=organization, email="invitee@example.com", role="admin"
    )
    return {
        "owner": owner,
        "staff": staff_user(),
        "values": {
            "organization_id": str(organization.id),
            "project_id": str(project.id),
            "membership_id": str(owner.memberships.get().id),
            "tracking_id": export.tracking_id,
            "draft_id": str(draft.id),
            "token": token,
            "queue_index": "0",
        },
        "export": export,
    }


@contextlib.contextmanager
def connections_closed_on_exit():
    try:
        yield
    finally:
        connections.close_all()


def site_pages(values: dict[str, str]) -> list[str]:
    """Every HTML page of the site outside the back office's model pages, filled with real
    values; patterns whose values the world lacks are left out."""
    from tests.config.test_hostile_urls import ROUTE_PARAMETER, every_path_template

    pages = []
    for template in every_path_template(ingestion=False):
        if template.startswith("admin/") and not template.startswith("admin/rq/"):
            continue
        if NOT_PAGES.match(template):
            continue
        names = [match["name"] for match in ROUTE_PARAMETER.finditer(template)]
        if any(name not in values for name in names):
            continue
        pages.append("/" + ROUTE_PARAMETER.sub(lambda match: values[match["name"]], template))
    return pages


def back_office_pages(world) -> list[str]:
    """The index, and each registered model's list, add form and first change form."""
    pages = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        if model._meta.managed is False:
            continue
        pages.append(reverse(f"admin:{info[0]}_{info[1]}_changelist"))
        pages.append(reverse(f"admin:{info[0]}_{info[1]}_add"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages.append(reverse(f"admin:{info[0]}_{info[1]}_change", args=[first.pk]))
        del model_admin
    return pages


def directives(header: str | None) -> dict[str, list[str]]:
    """A policy as {directive: sources}: django-csp writes them in no fixed order; a nonce is
    written 'nonce-*'."""
    parsed = {}
    for part in (header or "").split(";"):
        name, *sources = part.split()
        parsed[name] = [re.sub(r"^'nonce-[A-Za-z0-9+/=]{24}'$", "'nonce-*'", s) for s in sources]
    return parsed


class Browser:
    """One signed-in (or not) browser context that records what the policy blocked and every
    request that left the site."""

    def __init__(self, playwright_browser, base_url: str):
        self.base_url = base_url
        self.context = playwright_browser.new_context()
        self.context.add_init_script(LISTEN)
        self.outside: list[str] = []
        self.console: list[str] = []
        self.context.on("request", self._request)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.page.on(
            "console",
            lambda message: (
                self.console.append(f"{self.page.url}: {message.text}")
                if "Content Security Policy" in message.text
                else None
            ),
        )
        self.violations: list[str] = []
        self.skipped: list[str] = []
        self.headers: dict[str, str | None] = {}

    def _request(self, request) -> None:
        url = request.url
        if not url.startswith((self.base_url, "data:", "blob:", "about:")):
            self.outside.append(url)

    def visit(self, path: str, *, settle: bool = False) -> None:
        # A POST-only URL answers 405 with no body, which Chromium shows as its own error page.
        probe = self.page.request.get(self.base_url + path, max_redirects=0)
        if probe.status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.skipped.append(path)
            return
        response = self.page.goto(self.base_url + path)
        if settle:
            self.page.wait_for_load_state("networkidle")
        if response is not None and "text/html" in (response.headers.get("content-type") or ""):
            # Keyed by where the browser landed: a page that needs sign-in redirects.
            self.headers[urlsplit(response.url).path] = response.headers.get(
                "content-security-policy"
            )
        self.collect()

    def collect(self) -> None:
        found = self.page.evaluate("window.__violations || []")
        self.violations.extend(f"{self.page.url}: {entry}" for entry in found)
        self.page.evaluate("window.__violations = []")


def sign_in(browser: Browser, user, *, totp: bool = False) -> None:
    page = browser.page
    page.goto(f"{browser.base_url}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.locator("form button[type=submit]").click()
    if totp:
        page.wait_for_url(f"{browser.base_url}/accounts/2fa/authenticate/")
        page.fill("input[name=code]", fresh_totp_code())
        page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r".*/projects/$"))
    browser.collect()


def test_no_page_breaks_the_policy_or_calls_another_site(site, world, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs a loop
    from playwright.sync_api import expect, sync_playwright

    base_url = site["base_url"]
    pages = site_pages(world["values"])
    assert {"/api/docs/", "/api/redoc/", "/accounts/2fa/totp/activate/", "/settings/"} <= set(pages)
    with sync_playwright() as playwright, connections_closed_on_exit():
        chromium = chromium_launch(playwright)
        visitor, owner, staff = (Browser(chromium, base_url) for _ in range(3))

        # Signed out: the API docs render their operations from our own files.
        visitor.visit("/api/docs/", settle=True)
        expect(visitor.page.locator(".swagger-ui .info .title")).to_contain_text(
            "Privacy requests API"
        )
        expect(visitor.page.locator(".opblock").first).to_be_visible()
        visitor.visit("/api/redoc/", settle=True)
        expect(visitor.page.locator("h1")).to_contain_text("Privacy requests API")
        expect(visitor.page.get_by_text("data-retrievals/v3.0/").first).to_be_attached()
        for path in pages:
            visitor.visit(path)

        # An owner: every page, the scripts of ours that run on them, a form that shows a
        # secret once (the copy button's script).
        sign_in(owner, world["owner"])
        for path in pages:
            owner.visit(path)
        owner.visit("/settings/")
        owner.page.get_by_role("button", name=re.compile("Create token|Reset token")).click()
        owner.page.wait_for_load_state("load")
        owner.collect()
        organization_id = world["values"]["organization_id"]
        owner.visit(f"/orgs/{organization_id}/privacy/export/")
        owner.page.get_by_label("Several users").check()
        owner.collect()
        PrivacyRequest.objects.filter(id=world["export"].id).update(status="STARTED")
        owner.visit(f"/orgs/{organization_id}/privacy/{world['values']['tracking_id']}/")
        time.sleep(3)  # the status script polls
        owner.collect()

        # Staff: the back office and the queue dashboard, signed in with TOTP.
        sign_in(staff, world["staff"], totp=True)
        for path in back_office_pages(world):
            staff.visit(path)
        for path in pages:
            if path.startswith("/admin/rq/"):
                staff.visit(path)
        chromium.close()

    for browser in (visitor, owner, staff):
        assert browser.violations == []
        assert browser.console == []
        assert browser.outside == []
    redoc = directives(POLICY) | {"style-src": ["'self'", "'nonce-*'", *REDOC_STYLE_HASHES]}
    missing = [
        path
        for browser in (visitor, owner, staff)
        for path, header in browser.headers.items()
        if directives(header)
        != (
            redoc
            if path == "/api/redoc/"
            else directives(RQ_DASHBOARD)
            if path.startswith("/admin/rq/")
            else directives(POLICY)
        )
    ]
    assert missing == []
    assert visitor.headers["/api/redoc/"] != owner.headers["/api/redoc/"]  # a nonce each time
