"""Every page an owner, an admin, a member and a staff user can reach, in a real browser
(Debian's Chromium through Playwright) at 1280×800 and 390×844, against a real `runserver` on
PostgreSQL and a redis-server of the test's own (issue 17, items 2, 5, 7 and 8).

On each page: axe-core (bundled by axe-playwright-python, no CDN) finds no serious or critical
violation, every aria-describedby names an element of the page, nothing answers 4xx or 5xx
but the page itself where that is the point, and nothing is asked of another site. Along the
way: a reload of a new secret's page shows "already shown" and rotates nothing; a member is
offered no link, nor token, they cannot use; error pages are the site's; a CSV's ids are kept
across a form error; the focus ring reaches 3:1. Screenshots: test-output/screenshots/a11y-*.
"""

import os
import re
from http import HTTPStatus

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.template.loader import render_to_string

from accounts.actors import Actor
from accounts.models import Role, ServiceAccount
from accounts.services import gdpr_token_verify
from privacy_requests.exports.files import export_file_purge
from privacy_requests.models import PrivacyRequest, RequestKind, Status
from privacy_requests.services import privacy_request_submit
from projects.models import Project
from projects.services import project_verify_api_secret
from tests.admin_support import staff_user
from tests.e2e.a11y_support import (
    SCREENSHOTS,
    VIEWPORTS,
    Walk,
    api_status,
    connections_closed_on_exit,
    contrast,
)
from tests.e2e.conftest import chromium_launch, unused_port
from tests.factories import (
    EventFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def site(database_url, redis_server, spawn, tmp_path):
    """A web server on the test database and the test's Redis, with the local settings (DEBUG
    off; static files from static/; no TOTP for staff, as `make run` has it)."""
    (tmp_path / "a11y_settings.py").write_text(
        "from config.settings.local import *  # noqa: F403\n"
        "WHITENOISE_USE_FINDERS = True\n"
        "WHITENOISE_AUTOREFRESH = True\n"
        "# Users made by the test process have MD5 hashes (the test settings' fast hasher).\n"
        'PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]\n'
    )
    port = unused_port()  # not free_port: the test's redis-server holds that one
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="a11y_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(settings.BASE_DIR)]),
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        VAR_DIR=str(tmp_path / "var"),
        MEDIA_ROOT=str(tmp_path / "media"),
        PRIVACY_STORAGE="local",
        PRIVACY_ADMIN_REQUIRE_MFA="0",
        PRIVACY_SWEEP_INTERVAL="3600",
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
        SITE_URL=base_url,
        PYTHONUNBUFFERED="1",
    )
    web = spawn("runserver", "--noreload", f"127.0.0.1:{port}", env=env)
    web.wait_for_http(f"{base_url}/healthz", timeout=30)
    return {"base_url": base_url, "web": web}


def verified(email: str):
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


@pytest.fixture
def acme(transactional_db, settings):
    """Acme with an owner, an admin and a member, a staff user; a finished export of alice and
    one of bob (whose file the test purges), and a deletion of carol in its grace period.
    Requests run here, in process (the test settings' synchronous jobs)."""
    organization = OrganizationFactory(name="Acme")
    people = {}
    for role in (Role.OWNER, Role.ADMIN, Role.MEMBER):
        people[role.value] = verified(f"{role.value}@acme.test")
        MembershipFactory(user=people[role.value], organization=organization, role=role)
    people["staff"] = staff_user(totp=False, email="staff@vendor.test")
    project = ProjectFactory(organization=organization, name="Web shop")
    for distinct_id in ("alice", "bob", "carol", "dave"):
        EventFactory.create_batch(2, project=project, distinct_id=distinct_id)

    def submit(kind: str, distinct_id: str) -> PrivacyRequest:
        request = privacy_request_submit(
            project=project,
            actor=Actor(user=people["owner"], via="web"),
            channel="web",
            kind=kind,
            compliance="GDPR",
            distinct_ids=[distinct_id],
        )
        request.refresh_from_db()
        return request

    export, purged = submit(RequestKind.EXPORT, "alice"), submit(RequestKind.EXPORT, "bob")
    assert (export.status, purged.status) == (Status.SUCCESS, Status.SUCCESS)
    settings.PRIVACY_DELETION_DELAY = 3600
    deletion = submit(RequestKind.DELETION, "carol")
    assert deletion.status in (Status.PENDING, Status.STAGING), deletion.status
    return {
        "organization": organization,
        "project": project,
        "people": people,
        "export": export,
        "purged": purged,
        "deletion": deletion,
    }


def owner_walk(walk: Walk, acme, shared: dict) -> None:
    from playwright.sync_api import expect

    page, project, organization = walk.page, acme["project"], acme["organization"]
    org_id = organization.id

    walk.goto("/accounts/login/")
    walk.check("sign-in")
    page.fill("input[name=login]", "owner@acme.test")
    page.fill("input[name=password]", "not the password")
    page.locator("form button[type=submit]").click()
    expect(page.get_by_text("are not correct")).to_be_visible()
    walk.check("sign-in-error")
    walk.goto("/accounts/signup/")
    walk.check("sign-up")
    page.fill("input[name=email]", "owner@acme.test")
    page.fill("input[name=password1]", "short")
    page.fill("input[name=password2]", "other")
    page.locator("form button[type=submit]").click()
    expect(page.locator("ul.errorlist[id$=_error]").first).to_be_visible()
    named = page.eval_on_selector_all(
        "[aria-describedby*=_error]", "inputs => inputs.map(input => input.id)"
    )
    assert named, "no field names its error list"
    walk.check("sign-up-error")
    walk.goto("/accounts/password/reset/")
    walk.check("password-reset")
    walk.goto("/no-such-page/", status=HTTPStatus.NOT_FOUND)
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.locator("header.site-header")).to_be_visible()
    walk.check("404-signed-out")

    walk.sign_in("owner@acme.test")
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    walk.check("projects")
    if walk.viewport == "desktop":
        # The focus ring against the header's background and the page's (3:1 needed).
        for selector, background in (
            ("header nav a", "header.site-header"),
            ("main a", "body"),
        ):
            page.focus(selector)
            ring = page.eval_on_selector(selector, "e => getComputedStyle(e).outlineColor")
            behind = page.eval_on_selector(background, "e => getComputedStyle(e).backgroundColor")
            assert contrast(ring, behind) >= 3, (selector, ring, behind)

    # Item 2: the new API secret, shown once; a reload shows "already shown", rotates nothing.
    walk.goto(f"/projects/{project.id}/settings/")
    walk.check("project-settings")
    page.get_by_label(re.compile("I understand")).first.check()
    page.get_by_role("button", name="Rotate API secret").click()
    expect(page.get_by_role("heading", name="New API secret of Web shop")).to_be_visible()
    assert page.url == f"{walk.base_url}/projects/{project.id}/settings/api-secret/new/"
    secret = page.locator("#api-secret").inner_text().strip()
    walk.check("api-secret-new")
    page.reload()
    expect(page.locator("#already-shown")).to_contain_text("This API secret was already shown.")
    assert secret not in page.content()
    walk.check("api-secret-already-shown")
    project.refresh_from_db()
    assert project_verify_api_secret(project=project, secret=secret)

    # Item 2: the new GDPR token, the same way; the copied token keeps working after a reload.
    walk.goto("/settings/")
    walk.check("personal-settings")
    checkbox = page.get_by_label(re.compile("invalidates any application"))
    if checkbox.count():
        checkbox.check()
        page.get_by_role("button", name="Reset token").click()
    else:
        page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Your new GDPR API token")).to_be_visible()
    token = page.locator("#gdpr-token").inner_text().strip()
    walk.check("gdpr-token-new")
    page.reload()
    expect(page.locator("#already-shown")).to_contain_text("This token was already shown.")
    walk.check("gdpr-token-already-shown")
    assert gdpr_token_verify(raw_token=token) == acme["people"]["owner"]
    assert (
        api_status(
            walk.base_url, project=project, tracking_id=acme["export"].tracking_id, token=token
        )
        == HTTPStatus.OK
    )

    # The organization's settings (its privacy contact, named in the export packages).
    walk.goto(f"/orgs/{org_id}/settings/")
    walk.check("organization-settings")

    # Data & Privacy, its forms with their errors, the kept CSV, a preview.
    walk.goto(f"/orgs/{org_id}/privacy/")
    walk.check("privacy-list")
    walk.goto(f"/orgs/{org_id}/privacy/export/")
    walk.check("export-form")
    page.get_by_role("button", name="Preview export").click()
    expect(page.locator("#id_distinct_id_error")).to_contain_text("Enter the end user")
    assert page.get_attribute("#id_distinct_id", "aria-describedby").split() == [
        "id_distinct_id_helptext",
        "id_distinct_id_error",
    ]
    walk.check("export-form-error")
    walk.goto(f"/orgs/{org_id}/privacy/deletion/")
    walk.check("deletion-form")
    page.get_by_label("Project", exact=True).select_option(label="Web shop")
    page.get_by_label("Several users").check()
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": b"dave\ncarol\n"}]
    )
    page.get_by_role("button", name="Preview deletion").click()
    expect(page.locator("#form-errors")).to_contain_text("already have a deletion in progress")
    expect(page.locator("#csv-kept")).to_contain_text("read from people.csv (2) are kept")
    walk.check("deletion-form-csv-kept")
    # Submitted again without choosing the file: the kept ids are used (the same conflict).
    page.get_by_role("button", name="Preview deletion").click()
    expect(page.locator("#form-errors")).to_contain_text("1 of these ids already have a deletion")
    expect(page.locator("#csv-kept")).to_be_visible()
    walk.goto(f"/orgs/{org_id}/privacy/export/")
    page.get_by_label("Project", exact=True).select_option(label="Web shop")
    page.get_by_label("distinct_id", exact=True).fill("dave")
    page.get_by_role("button", name="Preview export").click()
    expect(page.locator("#preview-summary")).to_be_visible()
    walk.check("export-preview")
    # Issue 18: find an end user; a result, and a form error.
    walk.goto(f"/orgs/{org_id}/privacy/find/")
    walk.check("end-user-lookup")
    page.get_by_label("Project", exact=True).select_option(label="Web shop")
    page.get_by_label("Start of a distinct_id").check()
    page.get_by_label("Value").fill("alice")
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", name="1 id found")).to_be_visible()
    walk.check("end-user-lookup-results")
    page.get_by_label("Another profile property").check()
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#id_property_name_error")).to_contain_text("Name the property")
    walk.check("end-user-lookup-error")

    # Request pages: who acted in plain words; a purged file's link is the site's 410 page.
    export, deletion = acme["export"], acme["deletion"]
    walk.goto(f"/orgs/{org_id}/privacy/{export.tracking_id}/")
    expect(page.locator("dl.facts")).to_contain_text("owner@acme.test on this site")
    assert "web:owner@acme.test" not in page.content()
    walk.check("export-detail")
    walk.goto(f"/orgs/{org_id}/privacy/{deletion.tracking_id}/")
    walk.check("deletion-detail")
    walk.goto(f"/orgs/{org_id}/privacy/{deletion.tracking_id}/cancel/")
    walk.check("deletion-cancel")
    if "purged_link" not in shared:
        walk.goto(f"/orgs/{org_id}/privacy/{acme['purged'].tracking_id}/")
        link = page.get_by_role("link", name=re.compile(r"^Download export"))
        shared["purged_link"] = link.get_attribute("href").removeprefix(walk.base_url)
        assert export_file_purge(acme["purged"], actor="system", reason="test")
    walk.goto(shared["purged_link"], status=HTTPStatus.GONE)
    expect(page.get_by_role("heading", name="This download is no longer available")).to_be_visible()
    walk.check("410-download-gone")

    walk.goto(f"/orgs/{org_id}/members/")
    walk.check("members")
    walk.goto(f"/orgs/{org_id}/service-accounts/")
    walk.check("service-accounts")
    # Item 2: a new service account's and a new project's secrets, shown once after a redirect.
    page.get_by_label("Name").fill(f"Platform {walk.viewport}")
    page.get_by_label("Web shop").check()
    page.get_by_role("button", name="Create service account").click()
    expect(page.locator("#service-account-secret")).to_be_visible()
    walk.check("service-account-new")
    page.reload()
    expect(page.locator("#already-shown")).to_contain_text("The secret was already shown.")
    assert ServiceAccount.objects.filter(name=f"Platform {walk.viewport}").count() == 1
    walk.goto("/projects/new/")
    walk.check("project-new")
    page.get_by_label("Name").fill(f"App {walk.viewport}")
    page.get_by_role("button", name=re.compile("Create")).click()
    expect(page.locator("#api-secret")).to_be_visible()
    walk.check("project-created")
    page.reload()
    expect(page.locator("#already-shown")).to_contain_text("The API secret was already shown.")
    assert Project.objects.filter(name=f"App {walk.viewport}").count() == 1

    # The 500 page as Django serves it: no request, no database.
    walk.goto("/healthz")
    page.set_content(render_to_string("500.html"))
    page.wait_for_load_state("load")
    expect(page.get_by_role("heading", name="Something went wrong on our side")).to_be_visible()
    walk.check("500")


def api_docs_walk(walk: Walk) -> None:
    """Item 8: the API docs load nothing from another site; the placeholders are shown."""
    from playwright.sync_api import expect

    page = walk.page
    walk.goto("/api/redoc/")
    expect(page.get_by_text("Bearer <GDPR token>").first).to_be_visible(timeout=30_000)
    page.screenshot(path=str(SCREENSHOTS / f"a11y-{walk.viewport}-api-redoc.png"))
    walk.goto("/api/docs/")
    expect(page.get_by_text("Bearer <GDPR token>").first).to_be_visible(timeout=30_000)
    page.screenshot(path=str(SCREENSHOTS / f"a11y-{walk.viewport}-api-swagger.png"))
    assert walk.outside == [], walk.outside
    assert walk.failed == [], walk.failed


def admin_walk(walk: Walk, acme) -> None:
    org_id = acme["organization"].id
    walk.sign_in("admin@acme.test")
    walk.check("projects")
    walk.goto(f"/orgs/{org_id}/privacy/")
    walk.check("privacy-list")
    walk.goto(f"/orgs/{org_id}/members/")
    walk.check("members")
    walk.goto("/settings/")
    walk.check("personal-settings")


def member_walk(walk: Walk, acme) -> None:
    """Item 5: a member is offered only what they may open, and no token."""
    from playwright.sync_api import expect

    page, organization = walk.page, acme["organization"]
    walk.sign_in("member@acme.test")
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    expect(page.get_by_text("(you are a member)")).to_be_visible()
    assert page.locator(f"a[href='/orgs/{organization.id}/members/']").count() == 0
    assert page.get_by_role("link", name="Data & Privacy").count() == 0
    walk.check("projects")
    walk.goto("/settings/")
    expect(page.locator("#gdpr-token-status")).to_contain_text("You are not an owner or admin")
    assert page.get_by_role("button", name=re.compile("token")).count() == 0
    walk.check("personal-settings")
    walk.goto(f"/orgs/{organization.id}/members/", status=HTTPStatus.FORBIDDEN)
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("link", name="Go to your projects")).to_be_visible()
    walk.check("403-members")
    walk.goto("/no-such-page/", status=HTTPStatus.NOT_FOUND)
    expect(page.get_by_role("link", name="Go to your projects")).to_be_visible()
    walk.check("404")


def staff_walk(walk: Walk, acme) -> None:
    page = walk.page
    walk.sign_in("staff@vendor.test")
    walk.goto("/admin/")
    walk.check("admin-index")
    changelists = page.eval_on_selector_all(
        "#content-main th[scope=row] a", "links => links.map(a => a.getAttribute('href'))"
    )
    assert len(changelists) >= 5, changelists
    for href in changelists:
        walk.goto(href)
        walk.check(re.sub(r"[^\w]+", "-", href.strip("/?")).strip("-"))
    walk.goto(f"/admin/privacy_requests/privacyrequest/{acme['export'].pk}/change/")
    walk.check("admin-request-change")


def test_every_page_is_accessible_and_leads_only_where_allowed(site, acme, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs a loop
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("a11y-*.png"):
        old.unlink()
    problems: list[str] = []
    shared: dict = {}
    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        for viewport in VIEWPORTS:
            for who, walk_pages in (
                ("owner", lambda walk: owner_walk(walk, acme, shared)),
                ("docs", api_docs_walk),
                ("admin", lambda walk: admin_walk(walk, acme)),
                ("member", lambda walk: member_walk(walk, acme)),
                ("staff", lambda walk: staff_walk(walk, acme)),
            ):
                walk = Walk(
                    browser,
                    base_url=site["base_url"],
                    viewport=viewport,
                    who=who,
                    problems=problems,
                )
                try:
                    walk_pages(walk)
                finally:
                    walk.close()
        browser.close()

    assert problems == [], "\n".join(problems)
    assert len(list(SCREENSHOTS.glob("a11y-*.png"))) >= 2 * 30
