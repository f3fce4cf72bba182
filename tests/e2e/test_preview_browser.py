"""The preview of an export in a real browser (issue 14): given ids with no data listed first,
each linked id with how it was linked, a link flagged as abuse, an id left out by the owner,
and the export then holding nothing of it. Against the same real web server and rqworker as
test_browser.py; screenshots go to test-output/screenshots/."""

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress

from accounts.models import Role
from privacy_requests.models import PrivacyRequest, Status, SubjectDecision
from projects.identity import LinkProvenance, LinkRequest, identity_links_apply
from projects.models import IdentityKind
from tests.e2e.conftest import chromium_launch
from tests.e2e.test_browser import (  # noqa: F401 (the fixture is used by name)
    SCREENSHOTS,
    connections_closed_on_exit,
    site,
)
from tests.factories import (
    DEFAULT_PASSWORD,
    EventFactory,
    MembershipFactory,
    OrganizationFactory,
    ProfileFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e

FINISH_TIMEOUT_MS = 30_000


@pytest.fixture
def attacked(transactional_db):
    """The issue's attack: with the public token only, the attacker identified the victim's
    anonymous id (which had its own purchases) as their own."""
    owner = UserFactory(email="owner@example.com")
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    organization = OrganizationFactory(name="Acme")
    MembershipFactory(user=owner, organization=organization, role=Role.OWNER)
    project = ProjectFactory(organization=organization, name="Web shop")
    EventFactory.create_batch(
        3, project=project, distinct_id="victim-123", properties={"address": "1 Victim Road"}
    )
    ProfileFactory(project=project, distinct_id="victim-123", properties={"$name": "Victim"})
    EventFactory(project=project, distinct_id="attacker-1")
    identity_links_apply(
        project=project,
        links=[LinkRequest("victim-123", "attacker-1", IdentityKind.IDENTIFY)],
        provenance=LinkProvenance(endpoint="track", authenticated=False),
    )
    return {"owner": owner, "organization": organization, "project": project}


def test_the_owner_reviews_an_export_and_leaves_the_victim_out(
    site,  # noqa: F811 (the fixture imported above)
    attacked,
    monkeypatch,
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs a loop
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base_url = site["base_url"]
    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        context = browser.new_context(
            accept_downloads=True, viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{base_url}/accounts/login/")
        page.fill("input[name=login]", attacked["owner"].email)
        page.fill("input[name=password]", DEFAULT_PASSWORD)
        page.locator("form button[type=submit]").click()
        expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()

        page.goto(f"{base_url}/orgs/{attacked['organization'].id}/privacy/export/")
        page.get_by_label("Several users").check()
        page.get_by_label("CSV file").set_input_files(
            files=[
                {
                    "name": "ids.csv",
                    "mimeType": "text/csv",
                    "buffer": b"nobody-1\nattacker-1\nnobody-2\n",
                }
            ]
        )
        page.get_by_role("button", name="Preview export").click()

        # Given ids with no data come first, plainly.
        no_data = page.locator("#no-data")
        expect(no_data).to_contain_text("2 of these ids have no data in this project:")
        expect(no_data).to_contain_text("nobody-1")
        expect(no_data).to_contain_text("nobody-2")
        reached = page.locator("#reached-ids")
        assert no_data.bounding_box()["y"] < reached.bounding_box()["y"]
        expect(page.locator("#preview-summary")).to_have_text(
            "These 3 ids reach 1 subject: 2 ids with 4 events and 1 profile."
        )
        # The linked id with its provenance, flagged.
        victim = reached.locator("tr", has_text="victim-123")
        expect(victim).to_contain_text("identify with 'attacker-1'")
        expect(victim).to_contain_text("public (project token only)")
        expect(victim).to_contain_text("⚑ public link joined two active ids")
        expect(page.locator("#identity-flags")).to_contain_text(
            "Some identity links look like abuse."
        )
        page.screenshot(path=str(SCREENSHOTS / "20-export-preview-flagged.png"), full_page=True)

        # The owner leaves the victim out; the preview counts again before anything runs.
        victim.get_by_role("checkbox", name="Leave out victim-123").check()
        page.get_by_role("button", name="Update the preview").click()
        expect(page.locator("#preview-summary")).to_have_text(
            "These 3 ids reach 1 subject: 1 id with 1 event and 0 profiles."
        )
        expect(
            page.locator("#reached-ids").get_by_role("checkbox", name="Leave out victim-123")
        ).to_be_checked()
        assert PrivacyRequest.objects.count() == 0
        page.screenshot(path=str(SCREENSHOTS / "21-export-preview-left-out.png"), full_page=True)
        page.get_by_role("button", name="Export the data of 1 subject (1 id)").click()

        expect(page.get_by_text("Export requested for 3 ids.")).to_be_visible()
        expect(page.locator(".status-line [data-field=status]")).to_have_text(
            "SUCCESS", timeout=FINISH_TIMEOUT_MS
        )
        export = PrivacyRequest.objects.get()
        assert export.status == Status.SUCCESS
        decision = SubjectDecision.objects.get(request=export)
        assert (decision.distinct_id, decision.decision) == ("victim-123", "left_out")
        decisions = page.locator("#decisions-table")
        expect(decisions).to_contain_text("victim-123")
        expect(decisions).to_contain_text("Left out")
        expect(decisions).to_contain_text(attacked["owner"].email)
        page.screenshot(path=str(SCREENSHOTS / "22-export-left-out-success.png"), full_page=True)

        with page.expect_download() as download_info:
            page.get_by_role("link", name=re.compile(r"^Download export \(ZIP")).click()
        package = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
        everything = b"".join(package.read(name) for name in package.namelist())
        assert b"victim-123" not in everything
        assert b"1 Victim Road" not in everything
        events = [json.loads(line) for line in package.read("events.jsonl").splitlines()]
        assert [event["properties"]["distinct_id"] for event in events] == ["attacker-1"]
        browser.close()
