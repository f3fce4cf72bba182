"""Issue 17, items 1, 3, 4 and 6, in a real browser (Debian's Chromium through Playwright)
against a real `runserver` and a real `rqworker` on PostgreSQL and a redis-server of the
test's own, at 1280×800 and 390×844 (and 360 wide for the width checks).

- An owner answers "did we handle Jane's request?": the list's subject column, its search by
  distinct_id and by the start of a tracking id, the download link, the ids on the request page.
- A failed export reads as a plain sentence with the tracking id, and the green "Export
  requested" message does not stay above it; the technical reason is in the back office only.
- An operator cancels through a confirmation page with a reason, and is warned before extending
  an overdue request.
- Every page fits a phone: document.scrollingElement.scrollWidth <= the viewport's width, the
  header is compact and the list paginated.

Screenshots go to test-output/screenshots/operators/.
"""

import contextlib
import io
import os
import re
import shutil
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import connections
from django.utils import timezone

from accounts.models import Role
from privacy_requests.models import AuditEntry, PrivacyRequest, RequestSubject, Status
from projects.pii import distinct_id_hmac
from tests.admin_support import fresh_totp_code, staff_user
from tests.e2e.conftest import chromium_launch, unused_port
from tests.factories import (
    DEFAULT_PASSWORD,
    EventFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(settings.BASE_DIR) / "test-output" / "screenshots" / "operators"
FINISH_TIMEOUT_MS = 30_000
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
NARROW_PHONE = {"width": 360, "height": 740}
# The header of a phone: the brand and one row of links (it was 169 px).
PHONE_HEADER_MAX_PX = 100


@pytest.fixture(scope="module")
def screenshots() -> Path:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


@pytest.fixture
def site(database_url, redis_server, spawn, tmp_path):
    """A web server and a worker, both on the test database and the test's Redis, with the
    local settings (DEBUG off; static files served by whitenoise from static/), MFA required
    for staff as in production, and no wait between automatic retries."""
    (tmp_path / "operator_settings.py").write_text(
        "from config.settings.local import *  # noqa: F403\n"
        "WHITENOISE_USE_FINDERS = True\n"
        "WHITENOISE_AUTOREFRESH = True\n"
        "PRIVACY_RETRY_BACKOFF = [0, 0, 0]\n"
        "# Users made by the test process have MD5 hashes (the test settings' fast hasher).\n"
        'PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]\n'
    )
    (tmp_path / "media").mkdir()
    port = unused_port()  # not free_port: the test's redis-server holds that one
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="operator_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(settings.BASE_DIR)]),
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        VAR_DIR=str(tmp_path / "var"),
        MEDIA_ROOT=str(tmp_path / "media"),
        PRIVACY_STORAGE="local",
        PRIVACY_ADMIN_REQUIRE_MFA="1",
        PRIVACY_SWEEP_INTERVAL="3600",
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
        SITE_URL=base_url,
        PYTHONUNBUFFERED="1",
    )
    web = spawn("runserver", "--noreload", f"127.0.0.1:{port}", env=env)
    worker = spawn("rqworker", "default", env=env)
    web.wait_for_http(f"{base_url}/healthz", timeout=30)
    worker.wait_for_line(r"Listening on", timeout=30)
    return {"base_url": base_url, "web": web, "worker": worker, "env": env, "spawn": spawn}


def stored_request(project, distinct_ids, *, status, kind="export", **fields) -> PrivacyRequest:
    """A request row as the services leave it, written here so that no worker takes it: a
    final status, or STAGING in a deletion's grace period."""
    now = timezone.now()
    request = PrivacyRequest.objects.create(
        organization=project.organization,
        project=project,
        requested_by="api:owner@acme.test",
        kind=kind,
        compliance="GDPR",
        status=status,
        channel="api",
        received_at=fields.pop("received_at", now - timedelta(days=3)),
        due_at=fields.pop("due_at", now + timedelta(days=27)),
        not_before=fields.pop("not_before", now - timedelta(days=3)),
        finished_at=now - timedelta(days=2) if status in (Status.SUCCESS, Status.REVOKED) else None,
        **fields,
    )
    RequestSubject.objects.bulk_create(
        RequestSubject(request=request, distinct_id=distinct_id, position=position)
        for position, distinct_id in enumerate(distinct_ids)
    )
    return request


@pytest.fixture
def acme(transactional_db):
    """An owner (email verified), their organization and project with Jane's events, a staff
    operator, and 22 earlier requests (19 finished, one pseudonymized, two in a deletion's grace
    period): 23 with the export the test submits, two pages of the list."""
    owner = UserFactory(email="owner@acme.test")
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    organization = OrganizationFactory(name="Acme")
    MembershipFactory(user=owner, organization=organization, role=Role.OWNER)
    project = ProjectFactory(organization=organization, name="Web shop")
    EventFactory.create_batch(3, project=project, distinct_id="jane@example.com")
    EventFactory.create_batch(2, project=project, distinct_id="bob")
    earlier = [
        stored_request(
            project,
            [f"customer-{n}@example.com", f"device-{n}", *[f"alias-{n}-{m}" for m in range(n % 4)]],
            status=[Status.SUCCESS, Status.REVOKED, Status.FAILURE][n % 3],
            received_at=timezone.now() - timedelta(days=30 - n),
            error="ValueError: broken" if n % 3 == 2 else "",
        )
        for n in range(19)
    ]
    # Pseudonymized 30 days after it ended: its ids are HMACs, which no page shows as ids.
    old = stored_request(
        project,
        [distinct_id_hmac(project_id=project.id, distinct_id=i) for i in ("jane@example.com", "x")],
        status=Status.SUCCESS,
        received_at=timezone.now() - timedelta(days=80),
        subjects_pseudonymized_at=timezone.now() - timedelta(days=10),
    )
    grace = stored_request(
        project,
        ["carol", "carol-phone", "carol-laptop"],
        status=Status.STAGING,
        kind="deletion",
        not_before=timezone.now() + timedelta(days=7),
    )
    late = stored_request(
        project,
        ["dave"],
        status=Status.STAGING,
        kind="deletion",
        received_at=timezone.now() - timedelta(days=40),
        due_at=timezone.now() - timedelta(days=10),
        not_before=timezone.now() + timedelta(days=7),
    )
    return {
        "owner": owner,
        "operator": staff_user(email="operator@example.com"),
        "organization": organization,
        "project": project,
        "earlier": earlier,
        "pseudonymized": old,
        "grace": grace,
        "late": late,
    }


@contextlib.contextmanager
def connections_closed_on_exit():
    """While Playwright's loop runs, Django's connections are per context (asgiref): the ones
    opened in the test body are closed here, or they would outlive the test database."""
    try:
        yield
    finally:
        connections.close_all()


OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width - 1 || e.scrollWidth > e.clientWidth + 1)
    .filter(e => !e.closest('.skip-link'))
    .slice(0, 40)
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' ' +
      (typeof e.className === 'string' ? e.className : '') + ' ' +
      e.getBoundingClientRect().right + ' ' + e.scrollWidth + '/' + e.clientWidth);
  return {scrollWidth: document.scrollingElement.scrollWidth, width: window.innerWidth, wide};
}"""


class Browser:
    """One page, its screenshots, and the width checks of issue 17, item 6."""

    def __init__(self, page, shots: Path, prefix: str):
        self.page, self.shots, self.prefix = page, shots, prefix

    def shot(self, name: str) -> None:
        size = self.page.viewport_size
        path = self.shots / f"{self.prefix}-{name}-{size['width']}x{size['height']}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def fits(self, name: str, *, sizes=(PHONE, NARROW_PHONE)) -> dict:
        """The page at each phone size: no sideways scrolling; a screenshot of each."""
        measured = {}
        for size in sizes:
            self.page.set_viewport_size(size)
            self.page.wait_for_timeout(300)
            result = self.page.evaluate(OVERFLOW)
            self.shot(name)
            if result["scrollWidth"] > size["width"]:
                print(name, size, *result["wide"], sep="\n")  # noqa: T201
            assert result["scrollWidth"] <= size["width"], (name, size, result)
            measured[size["width"]] = result["scrollWidth"]
        self.page.set_viewport_size(DESKTOP)
        return measured


def sign_in(page, base_url: str, user) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.locator("form button[type=submit]").click()


def sign_in_operator(page, base_url: str, operator) -> None:
    """Through allauth with the password, then a TOTP code, as the back office requires."""
    page.goto(f"{base_url}/admin/")
    page.fill("input[name=login]", operator.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(f"{base_url}/accounts/2fa/authenticate/")
    page.fill("input[name=code]", fresh_totp_code())
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{base_url}/admin/")


def rows(page):
    return page.locator("table.request-list tbody tr")


def test_owner_finds_janes_request_downloads_it_and_every_page_fits_a_phone(
    site, acme, screenshots, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs a loop
    from playwright.sync_api import expect, sync_playwright

    base_url, organization = site["base_url"], acme["organization"]
    list_url = f"{base_url}/orgs/{organization.id}/privacy/"
    widths: dict[str, dict] = {}
    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        context = browser.new_context(accept_downloads=True, viewport=DESKTOP)
        page = context.new_page()
        page.set_default_timeout(15_000)
        b = Browser(page, screenshots, "owner")

        sign_in(page, base_url, acme["owner"])
        expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
        b.shot("01-projects")
        widths["projects"] = b.fits("01-projects")
        page.set_viewport_size(PHONE)
        header = page.locator(".site-header").bounding_box()
        assert header is not None and header["height"] <= PHONE_HEADER_MAX_PX, header
        widths["header-height-390"] = {390: round(header["height"])}
        for name in ("Projects", "Data & Privacy", "Personal settings"):
            link = page.get_by_role("navigation", name="Main").get_by_role("link", name=name)
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, name
        page.set_viewport_size(DESKTOP)

        # Jane asks for her data: an export of one id, followed live to SUCCESS.
        page.goto(f"{base_url}/orgs/{organization.id}/privacy/export/")
        widths["export-form"] = b.fits("02-export-form")
        page.get_by_label("distinct_id", exact=True).fill("jane@example.com")
        page.get_by_role("button", name="Preview export").click()
        page.get_by_role("button", name=re.compile(r"^Export the data of 1 subject")).click()
        expect(page.get_by_text("Export requested for 1 id.")).to_be_visible()
        expect(page.locator(".status-line [data-field=status]")).to_have_text(
            "SUCCESS", timeout=FINISH_TIMEOUT_MS
        )
        export = PrivacyRequest.objects.get(status=Status.SUCCESS, channel="web")
        # The ids given, shown without opening anything.
        expect(page.locator("details.ids")).to_have_attribute("open", "")
        expect(page.locator("details.ids li")).to_have_text(["jane@example.com"])
        b.shot("03-export-done")
        widths["detail"] = b.fits("03-export-done")

        # The list: 23 requests on two pages; Jane's first, with her id and a download link.
        page.goto(list_url)
        expect(page.get_by_text("Page 1 of 2 (23 requests)")).to_be_visible()
        expect(rows(page)).to_have_count(20)
        first = rows(page).first
        expect(first.locator("[data-field=subject]")).to_have_text("jane@example.com")
        expect(first.get_by_role("link", name=re.compile("^Download ZIP"))).to_be_visible()
        many = rows(page).filter(has_text="customer-7@example.com")
        expect(many.locator("[data-field=subject]")).to_have_text(
            "customer-7@example.com, device-7 +3"
        )
        b.shot("04-list")
        widths["list"] = b.fits("04-list")
        page.set_viewport_size(PHONE)
        height = page.evaluate("document.scrollingElement.scrollHeight")
        assert height <= 5000, height  # 23 requests made 8,000 px
        widths["list-height-390"] = {390: height}
        page.set_viewport_size(DESKTOP)

        # "Did we handle Jane's request?": search by her id, exactly as given.
        page.get_by_label("distinct_id or tracking id").fill("jane@example.com")
        page.get_by_role("button", name="Filter").click()
        expect(rows(page)).to_have_count(2)
        expect(rows(page).nth(0)).to_contain_text(export.tracking_id[:12])
        pseudonymized = rows(page).nth(1).locator("[data-field=subject]")
        expect(pseudonymized).to_contain_text("2 ids, pseudonymized")
        b.shot("05-search-by-id")
        widths["search"] = b.fits("05-search-by-id")
        page.get_by_label("distinct_id or tracking id").fill("Jane@example.com")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_text("No request matches the search.")).to_be_visible()

        # The tracking id a customer quotes: its first characters, as the list shows them.
        page.get_by_label("distinct_id or tracking id").fill(export.tracking_id[:12])
        page.get_by_role("button", name="Filter").click()
        expect(rows(page)).to_have_count(1)
        with page.expect_download() as download_info:
            rows(page).first.get_by_role("link", name=re.compile("^Download ZIP")).click()
        package = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
        assert "events.jsonl" in package.namelist()
        assert package.read("events.jsonl").count(b"jane@example.com") == 3
        b.shot("06-search-by-tracking-id")

        # Page 2 keeps the filters' absence and holds the oldest three.
        page.goto(f"{list_url}?page=2")
        expect(rows(page)).to_have_count(3)
        widths["list-page-2"] = b.fits("07-list-page-2")

        # The other pages an owner opens fit a phone too.
        project, grace = acme["project"], acme["grace"]
        for name, path in [
            ("08-deletion-form", f"/orgs/{organization.id}/privacy/deletion/"),
            ("09-cancel", f"/orgs/{organization.id}/privacy/{grace.tracking_id}/cancel/"),
            ("10-members", f"/orgs/{organization.id}/members/"),
            ("11-project-settings", f"/projects/{project.id}/settings/"),
            ("12-personal-settings", "/settings/"),
            ("13-new-project", "/projects/new/"),
        ]:
            assert page.goto(f"{base_url}{path}").status == 200, path
            widths[name] = b.fits(name)
        browser.close()

    print("Measured at each phone width:", widths)  # noqa: T201


def test_a_failed_export_reads_plainly_without_the_requested_message(
    site, acme, screenshots, monkeypatch
):
    """The worker cannot write to its storage (as a full or read-only disk): the export fails
    after its automatic retries. The customer reads what failed and the tracking id; the
    exception and the server path are in the back office only."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    site["worker"].stop()
    broken = {**site["env"], "MEDIA_ROOT": "/proc/no-such-directory/private"}
    worker = site["spawn"]("rqworker", "default", env=broken)
    worker.wait_for_line(r"Listening on", timeout=30)
    base_url, organization = site["base_url"], acme["organization"]
    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        page = browser.new_page(viewport=PHONE)
        page.set_default_timeout(15_000)
        b = Browser(page, screenshots, "failure")
        sign_in(page, base_url, acme["owner"])
        page.goto(f"{base_url}/orgs/{organization.id}/privacy/export/")
        page.get_by_label("distinct_id", exact=True).fill("jane@example.com")
        page.get_by_role("button", name="Preview export").click()
        page.get_by_role("button", name=re.compile(r"^Export the data of 1 subject")).click()
        requested = page.get_by_text("Export requested for 1 id.")
        expect(requested).to_be_visible()
        b.shot("01-requested")
        expect(page.locator(".status-line [data-field=status]")).to_have_text(
            "FAILURE", timeout=FINISH_TIMEOUT_MS
        )
        expect(requested).to_have_count(0)
        expect(page.locator(".messages")).to_have_count(0)
        failed = PrivacyRequest.objects.get(status=Status.FAILURE, channel="web")
        assert "/proc/no-such-directory" in failed.error, failed.error
        expect(page.locator("#failure")).to_contain_text(
            "This export stopped before it finished, because its file could not be saved."
        )
        expect(page.locator("#failure")).to_contain_text(
            f"contact support and quote the tracking id {failed.tracking_id}."
        )
        text = page.locator("main").inner_text()
        for technical in ("/proc", "Error", "Errno", "Traceback"):
            assert technical not in text, (technical, text)
        expect(page.get_by_role("button", name="Retry")).to_be_visible()
        b.shot("02-failed")
        b.fits("02-failed")
        page.set_viewport_size(DESKTOP)
        page.reload()
        expect(page.locator(".messages")).to_have_count(0)  # the flash message showed once
        b.shot("02-failed")

        # The operator sees the technical reason.
        context = browser.new_context(viewport=DESKTOP)
        admin = context.new_page()
        admin.set_default_timeout(15_000)
        sign_in_operator(admin, base_url, acme["operator"])
        admin.goto(f"{base_url}/admin/privacy_requests/privacyrequest/{failed.pk}/change/")
        expect(admin.locator(".field-error_display")).to_contain_text("ResultStorageError")
        expect(admin.locator(".field-error_display")).to_contain_text("/proc/no-such-directory")
        Browser(admin, screenshots, "failure").shot("03-back-office-error")
        browser.close()


def test_operator_cancels_with_a_reason_and_is_warned_before_extending_an_overdue_request(
    site, acme, screenshots, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    base_url, operator = site["base_url"], acme["operator"]
    grace, late = acme["grace"], acme["late"]
    changelist = f"{base_url}/admin/privacy_requests/privacyrequest/"
    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        page = browser.new_page(viewport=DESKTOP)
        page.set_default_timeout(15_000)
        b = Browser(page, screenshots, "back-office")
        # The owner watches the list meanwhile, on a phone.
        owner_page = browser.new_context(viewport=PHONE).new_page()
        owner_page.set_default_timeout(15_000)
        sign_in(owner_page, base_url, acme["owner"])
        owner_page.goto(f"{base_url}/orgs/{acme['organization'].id}/privacy/")
        owner_page.evaluate("window.__notReloaded = true")
        grace_status = owner_page.locator(
            f"tr[data-tracking-id='{grace.tracking_id}'] [data-field=status]"
        )
        expect(grace_status).to_have_text("STAGING")
        sign_in_operator(page, base_url, operator)

        # The list: the subject column, and a search by distinct_id.
        page.goto(changelist)
        row = page.get_by_role("row").filter(has_text=grace.tracking_id[:12])
        expect(row.locator(".field-subject_display")).to_have_text("carol, carol-phone +1")
        old = page.get_by_role("row").filter(has_text=acme["pseudonymized"].tracking_id[:12])
        expect(old.locator(".field-subject_display")).to_contain_text("2 ids pseudonymized")
        b.shot("01-list")
        b.fits("01-list")
        # On a phone every column of a request is on screen, none scrolled off to the right.
        page.set_viewport_size(PHONE)
        for cell in ("tracking_display", "subject_display", "status_display", "due_display"):
            box = row.locator(f".field-{cell}").bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, cell
        page.set_viewport_size(DESKTOP)
        page.fill("#searchbar", "carol-phone")
        page.locator("#changelist-search input[type=submit]").click()
        expect(page.locator("#result_list tbody tr")).to_have_count(1)
        page.fill("#searchbar", late.tracking_id[:12])
        page.locator("#changelist-search input[type=submit]").click()
        expect(page.locator("#result_list tbody tr")).to_have_count(1)

        # Cancel: a confirmation page; no reason, no cancel.
        page.goto(f"{changelist}{grace.pk}/change/")
        b.fits("02-request")
        page.get_by_role("button", name="Cancel…").click()
        expect(page.get_by_text("Cancel 1 request? Only a PENDING or STAGING")).to_be_visible()
        b.shot("03-cancel-confirmation")
        b.fits("03-cancel-confirmation")
        reason = page.get_by_label("Why are they canceled?")
        page.get_by_role("button", name="Cancel 1 request").click()  # the browser asks first
        expect(page.locator("textarea[name=reason]:invalid")).to_have_count(1)
        reason.fill("   ")  # the server refuses a blank reason too
        page.get_by_role("button", name="Cancel 1 request").click()
        expect(page.get_by_text("Say why the requests are canceled.")).to_be_visible()
        assert PrivacyRequest.objects.get(id=grace.id).status == Status.STAGING
        page.get_by_label("Why are they canceled?").fill("The customer withdrew it by phone.")
        page.get_by_role("button", name="Cancel 1 request").click()
        expect(page.locator("ul.messagelist")).to_contain_text("1 request canceled.")
        assert page.url == f"{changelist}{grace.pk}/change/"
        assert PrivacyRequest.objects.get(id=grace.id).status == Status.REVOKED
        entry = AuditEntry.objects.get(request=grace, action="canceled")
        assert (entry.actor, entry.detail) == (
            f"staff:{operator.email}",
            {"reason": "The customer withdrew it by phone."},
        )
        expect(page.locator(".field-audit_trail_display")).to_contain_text(
            "The customer withdrew it by phone."
        )

        # The owner's list shows the cancel by itself, without a reload.
        expect(grace_status).to_have_text("REVOKED", timeout=FINISH_TIMEOUT_MS)
        assert owner_page.evaluate("window.__notReloaded") is True
        # The row is a fresh copy of the server's (the script replaced the list), no longer live.
        expect(
            owner_page.locator(f"tr[data-tracking-id='{grace.tracking_id}'] td.status-cell.live")
        ).to_have_count(0)
        Browser(owner_page, screenshots, "back-office").shot("03-owner-list-after-cancel")

        # Extend an overdue request: a warning, and a confirmation.
        page.goto(f"{changelist}{late.pk}/change/")
        page.get_by_role("button", name="Extend the deadline…").click()
        expect(page.locator("#overdue-warning")).to_contain_text("This request is already overdue.")
        b.shot("04-extend-overdue")
        b.fits("04-extend-overdue")
        page.get_by_label("Why is the deadline extended?").fill("Complex: many linked ids.")
        page.get_by_role("button", name="Extend the deadline").click()  # not confirmed
        expect(page.locator("input[name=confirm_overdue]:invalid")).to_have_count(1)
        expect(page.locator("#overdue-warning")).to_be_visible()
        assert PrivacyRequest.objects.get(id=late.id).extended is False
        page.get_by_label(re.compile("a deadline has already passed")).check()
        page.get_by_role("button", name="Extend the deadline").click()
        expect(page.locator("ul.messagelist")).to_contain_text("1 request extended.")
        assert PrivacyRequest.objects.get(id=late.id).extended is True
        b.shot("05-extended")
        browser.close()
