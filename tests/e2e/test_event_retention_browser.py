"""The event retention setting in a real browser (issue 20): Debian's Chromium through
Playwright, against the site and the shop of test_browser.py.

The owner opens the project's settings, is told why 0 months is refused and that a shorter
retention needs the tick, sets 12 months, and after the sweep reads what retention removed.
Each state of the page passes axe.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from privacy_requests.retention.services import retention_sweep
from projects.models import Event
from projects.retention import retention_cutoff
from tests.e2e.a11y_support import Walk
from tests.e2e.conftest import chromium_launch
from tests.e2e.test_browser import (  # noqa: F401  (the fixtures are used by name)
    connections_closed_on_exit,
    shop,
    site,
)
from tests.factories import EventFactory

pytestmark = pytest.mark.e2e


def test_owner_sets_the_retention_and_reads_what_it_removed(
    site,  # noqa: F811
    shop,  # noqa: F811
    monkeypatch,
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs a loop
    from playwright.sync_api import expect, sync_playwright

    project = shop["project"]
    now = timezone.now()
    old = retention_cutoff(now=now, months=12) - timedelta(days=3)
    EventFactory.create_batch(2, project=project, distinct_id="erin", time=old)
    problems: list[str] = []
    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        walk = Walk(
            browser, base_url=site["base_url"], viewport="desktop", who="owner", problems=problems
        )
        page = walk.page
        walk.sign_in(shop["owner"].email)
        walk.goto(f"/projects/{project.id}/settings/")
        expect(page.locator("#retention-state")).to_have_text(
            "Retention is off: events are kept until a deletion request removes them."
        )
        months = page.get_by_role("spinbutton", name="Keep events for (months)")
        save = page.get_by_role("button", name="Save event retention")

        months.fill("0")
        save.click()
        expect(page.locator("#retention_keep_events_months_error")).to_have_text(
            "Enter a whole number of months from 1 to 120, or leave the box empty to keep "
            "events until a deletion request removes them."
        )
        walk.check("retention-refused")

        months.fill("12")
        save.click()
        expect(page.locator("#retention_confirm_error")).to_have_text(
            "Tick the box to confirm: events that happened more than 12 months ago will be "
            "removed for good."
        )
        page.get_by_label("I understand that older events are removed for good").check()
        save.click()
        expect(page.locator("#retention-state")).to_have_text("Events are kept for 12 months.")
        expect(page.get_by_text("Retention has not run yet")).to_be_visible()
        walk.check("retention-set")

        assert retention_sweep(now=now).events_removed == 2
        page.reload()
        expect(page.locator("#retention-last-run")).to_contain_text(
            f"and removed 2 events that happened before "
            f"{retention_cutoff(now=now, months=12):%-d %B %Y}."
        )
        walk.check("retention-ran")
        walk.close()
        browser.close()

    assert problems == []
    assert not Event.objects.filter(project=project, distinct_id="erin").exists()
