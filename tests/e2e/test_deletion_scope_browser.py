"""A CCPA deletion by categories, and the choice of sources, in a real browser (issue 18): the
form shows the lists only for CCPA and the choice made, the preview counts what each category
or source removes, and the confirmed deletion leaves only the other categories. Against the
same real web server and rqworker as test_browser.py."""

import pytest
from allauth.account.models import EmailAddress

from accounts.models import Role
from projects.models import Event, Profile
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
def jane(transactional_db):
    owner = UserFactory(email="owner@example.com")
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    organization = OrganizationFactory(name="Acme")
    MembershipFactory(user=owner, organization=organization, role=Role.OWNER)
    project = ProjectFactory(organization=organization, name="Web shop")
    EventFactory.create_batch(
        3,
        project=project,
        distinct_id="jane",
        source="track/python 5.4.1",
        properties={"$email": "jane@example.com", "$city": "Lisbon", "plan": "pro"},
    )
    EventFactory(
        project=project, distinct_id="jane", source="track/android 7.5.0", properties={"x": 1}
    )
    ProfileFactory(project=project, distinct_id="jane", properties={"$email": "jane@example.com"})
    EventFactory(project=project, distinct_id="bob", properties={"$email": "bob@example.com"})
    return {"owner": owner, "organization": organization, "project": project}


def test_the_owner_deletes_contact_details_only_and_previews_sources(
    site,  # noqa: F811 (the fixture imported above)
    jane,
    monkeypatch,
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs a loop
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base_url = site["base_url"]
    deletion_page = f"{base_url}/orgs/{jane['organization'].id}/privacy/deletion/"
    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        page.goto(f"{base_url}/accounts/login/")
        page.fill("input[name=login]", jane["owner"].email)
        page.fill("input[name=password]", DEFAULT_PASSWORD)
        page.locator("form button[type=submit]").click()
        expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()

        # Sources first: the preview counts each source's events, chosen or kept.
        page.goto(deletion_page)
        categories = page.get_by_role("group", name="Categories to delete")
        expect(page.get_by_label("Sources: only the records")).to_be_hidden()  # GDPR
        page.get_by_label("CCPA").check()
        page.get_by_label("Sources: only the records").check()
        expect(categories).to_be_hidden()
        page.get_by_label("Sources to delete").fill("track/android 7.5.0")
        page.get_by_label("distinct_id", exact=True).fill("jane")
        page.get_by_role("button", name="Preview deletion").click()
        counts = page.locator("#scope-counts")
        expect(counts.locator('tr[data-scope="track/android 7.5.0"]')).to_contain_text("Deleted")
        expect(counts.locator('tr[data-scope="track/python 5.4.1"]')).to_contain_text("Kept")
        expect(counts.locator('tr[data-scope="track/python 5.4.1"] td').nth(1)).to_have_text("3")
        page.screenshot(path=str(SCREENSHOTS / "40-deletion-sources-preview.png"), full_page=True)

        # Then categories: contact details only, confirmed and run by the worker.
        page.goto(deletion_page)
        page.get_by_label("CCPA").check()
        page.get_by_label("Categories: only the properties").check()
        expect(categories).to_be_visible()
        page.get_by_label("Contact details").check()
        page.get_by_label("distinct_id", exact=True).fill("jane")
        page.get_by_role("button", name="Preview deletion").click()
        contact = page.locator('#scope-counts tr[data-scope="contact"]')
        expect(contact).to_contain_text("Deleted")
        expect(contact.locator("td").nth(1)).to_have_text("4")  # 3 events' + the profile's
        expect(page.locator('#scope-counts tr[data-scope="location"]')).to_contain_text("Kept")
        page.screenshot(
            path=str(SCREENSHOTS / "41-deletion-categories-preview.png"), full_page=True
        )
        page.get_by_role("checkbox", name="I understand").check()
        page.get_by_role("button", name="Delete the chosen categories of 1 subject").click()
        expect(page.locator(".status-line [data-field=status]")).to_have_text(
            "SUCCESS", timeout=FINISH_TIMEOUT_MS
        )
        browser.close()

    project = jane["project"]
    events = Event.objects.filter(project=project, distinct_id="jane")
    assert events.count() == 4
    assert not any("$email" in event.properties for event in events)
    assert sum("$city" in event.properties for event in events) == 3
    assert Profile.objects.get(project=project, distinct_id="jane").properties == {}
    assert Event.objects.get(project=project, distinct_id="bob").properties == {
        "$email": "bob@example.com"
    }
