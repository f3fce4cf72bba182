"""Packages an end user can read (issue 17, items 9 to 11) in a real browser (Debian's Chromium
through Playwright), against a real `runserver` and `rqworker` (the site and the shop of
test_browser.py), at 1280×800 and at 390×844.

The owner sets the organization's privacy contact, exports two people from a CSV, downloads
each person's own package from the request page and opens its index.html in the browser
(offline, from the unzipped files); the deletion page says that deleting does not stop
collection. Screenshots go to test-output/screenshots/subject-packages/.
"""

import re
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

from privacy_requests.models import PrivacyRequest, RequestKind
from tests.e2e.a11y_support import BLOCKING_IMPACTS
from tests.e2e.conftest import chromium_launch
from tests.e2e.test_browser import (  # noqa: F401  (the fixtures are used by name)
    FINISH_TIMEOUT_MS,
    connections_closed_on_exit,
    shop,
    site,
)
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(settings.BASE_DIR) / "test-output" / "screenshots" / "subject-packages"
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


def test_each_person_gets_a_readable_package_of_their_own(
    site,  # noqa: F811
    shop,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs a loop
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base_url, organization = site["base_url"], shop["organization"]
    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        for size, (width, height) in VIEWPORTS.items():
            context = browser.new_context(
                accept_downloads=True, viewport={"width": width, "height": height}
            )
            page = context.new_page()
            page.set_default_timeout(15_000)

            def shot(name: str, page=page, size=size) -> None:
                page.screenshot(path=str(SCREENSHOTS / f"{size}-{name}.png"), full_page=True)

            def fits(page=page, width=width) -> None:
                assert page.evaluate("document.documentElement.scrollWidth") <= width

            page.goto(f"{base_url}/accounts/login/")
            page.fill("input[name=login]", shop["owner"].email)
            page.fill("input[name=password]", DEFAULT_PASSWORD)
            page.locator("form button[type=submit]").click()
            expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()

            # Item 10: the privacy contact, on the organization's settings page.
            page.goto(f"{base_url}/orgs/{organization.id}/settings/")
            contact = f"privacy+{size}@acme.example"
            page.get_by_role("textbox", name="Privacy contact").fill(contact)
            page.get_by_role("button", name="Save the privacy contact").click()
            expect(page.locator("#privacy-contact-now")).to_have_text(contact)
            fits()
            shot("01-organization-settings")

            # Item 9: an export of two people from a CSV, one package per person.
            page.goto(f"{base_url}/orgs/{organization.id}/privacy/export/")
            page.get_by_label("Several users").check()
            page.get_by_label("CSV file").set_input_files(
                files=[
                    {
                        "name": "people.csv",
                        "mimeType": "text/csv",
                        "buffer": b"distinct_id\nalice\nbob\n",
                    }
                ]
            )
            page.get_by_role("button", name="Preview export").click()
            page.get_by_role("button", name="Export the data of 2 subjects (3 ids)").click()
            expect(page.locator(".status-line [data-field=status]")).to_have_text(
                "SUCCESS", timeout=FINISH_TIMEOUT_MS
            )
            packages = page.locator("#subject-packages li")
            expect(packages).to_have_count(2, timeout=FINISH_TIMEOUT_MS)
            expect(packages.first).to_contain_text("alice")
            expect(packages.first).to_contain_text("with 1 linked id")
            fits()
            shot("02-request-page")

            folders = {}
            for name in ("alice", "bob"):
                with page.expect_download() as download_info:
                    page.get_by_role(
                        "link", name=re.compile(rf"^Download the package of {name} \(ZIP")
                    ).click()
                folder = tmp_path / size / name
                with zipfile.ZipFile(download_info.value.path()) as package:
                    package.extractall(folder)
                folders[name] = folder
            alice_files = {path.name for path in folders["alice"].iterdir()}
            assert {"index.html", "events.jsonl", "categories.json", "sources.json"} <= alice_files
            assert "bob" not in (folders["alice"] / "events.jsonl").read_text()
            assert "alice" not in (folders["bob"] / "events.jsonl").read_text()

            # Her index.html, opened from disk: offline, no scripts, readable tables.
            reader = context.new_page()
            requested: list[str] = []
            reader.on("request", lambda request, seen=requested: seen.append(request.url))
            reader.goto((folders["alice"] / "index.html").as_uri())
            expect(reader.get_by_role("heading", name="Your data held by Acme")).to_be_visible()
            expect(reader.get_by_text(f"Questions about your data: {contact}")).to_be_visible()
            for heading in ("Your ids", "Your profile", "Kinds of data", "Your events"):
                expect(reader.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            events = reader.locator("table").last.locator("tbody tr")
            expect(events).to_have_count(4)  # three of alice's, one of her phone
            expect(events.first.locator("td").first).to_have_text(
                re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
            )
            expect(reader.get_by_text("bob", exact=True)).to_have_count(0)
            assert reader.locator("script").count() == 0
            assert all(url.startswith("file://") for url in requested), requested
            # The person's page passes the same accessibility check as the site's own pages.
            from axe_playwright_python.sync_playwright import Axe

            serious = [
                f"{violation['id']}: {[node['target'] for node in violation['nodes']]}"
                for violation in Axe().run(reader).response["violations"]
                if violation["impact"] in BLOCKING_IMPACTS
            ]
            assert serious == [], serious
            reader.screenshot(path=str(SCREENSHOTS / f"{size}-03-index-html.png"), full_page=True)
            reader.close()

            # Item 11: the deletion page says that collection goes on.
            page.goto(f"{base_url}/orgs/{organization.id}/privacy/deletion/")
            page.get_by_label("distinct_id", exact=True).fill("dave")
            page.get_by_role("button", name="Preview deletion").click()
            note = page.locator("#future-collection")
            expect(note).to_contain_text("Deleting data does not stop future collection")
            expect(
                note.get_by_role("link", name=re.compile("Suppression of deleted ids"))
            ).to_have_attribute("href", f"/projects/{shop['project'].id}/settings/#suppression")
            fits()
            shot("04-deletion-preview")
            context.close()
        browser.close()
    exports = PrivacyRequest.objects.filter(kind=RequestKind.EXPORT)
    assert exports.count() == 2
    assert all(len(export.result_packages) == 2 for export in exports)
