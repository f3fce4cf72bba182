"""The callbacks page in a real browser (issue 19): Debian's Chromium through Playwright,
against a real `runserver` and `rqworker` (the site and the shop of test_browser.py) and a
receiver listening in the test process.

The owner opens Callbacks from the organization's settings, registers an endpoint, copies the
signing secret from the page that shows it once (a reload shows it no more), submits an export
through the API and watches the delivery log fill, then sends one callback again. The bodies
the receiver got verify with the secret read off the page. Each page passes axe.
"""

import json

import pytest
import requests

from privacy_requests.callbacks.signing import signature_verify
from tests.callback_receiver import Receiver
from tests.e2e.a11y_support import Walk
from tests.e2e.conftest import chromium_launch, poll_until
from tests.e2e.test_browser import (  # noqa: F401  (the fixtures are used by name)
    connections_closed_on_exit,
    shop,
    site,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def test_owner_registers_an_endpoint_sees_the_secret_once_and_the_delivery_log(
    site,  # noqa: F811
    shop,  # noqa: F811
    receiver,
    monkeypatch,
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs a loop
    from playwright.sync_api import expect, sync_playwright

    base_url, organization, project = site["base_url"], shop["organization"], shop["project"]
    problems: list[str] = []
    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        walk = Walk(
            browser, base_url=base_url, viewport="desktop", who="callbacks", problems=problems
        )
        page = walk.page
        walk.sign_in(shop["owner"].email)

        walk.goto(f"/orgs/{organization.id}/settings/")
        page.get_by_role("link", name="register a callback endpoint").click()
        expect(page.get_by_role("heading", name="Callbacks of Acme")).to_be_visible()
        expect(page.locator("#no-endpoints")).to_be_visible()
        walk.check("callbacks-empty")

        page.get_by_role("textbox", name="URL").fill(f"{receiver.url}/hooks")
        page.get_by_label("Started").check()
        page.get_by_role("button", name="Register the endpoint").click()

        secret = page.locator("#callback-secret").inner_text()
        assert secret.startswith("whsec_")
        walk.check("callback-secret")
        page.reload()
        expect(page.locator("#already-shown")).to_be_visible()
        assert secret not in page.content()

        export = requests.post(
            f"{base_url}/api/app/data-retrievals/v3.0/?token={project.token}",
            json={"distinct_ids": ["alice"]},
            headers={"Authorization": f"Bearer {shop['gdpr_token']}"},
            timeout=10,
        )
        assert export.status_code == 201, export.text
        task_id = export.json()["results"]["task_id"]
        poll_until(
            lambda: len(receiver.received) >= 3,
            timeout=60,
            message=lambda: f"received {receiver.received}\n{site['worker'].output()}",
        )

        page.get_by_role("link", name="The endpoint and its deliveries").click()
        rows = page.locator("tr.delivery")
        expect(rows).to_have_count(3)
        for event in ("submitted", "started", "succeeded"):
            row = rows.filter(has=page.get_by_role("rowheader", name=event, exact=True))
            expect(row.locator(".delivery-status")).to_have_text("Delivered")
            expect(row.locator(".delivery-code")).to_have_text("200")
            expect(row.locator(".delivery-attempts")).to_have_text("1")
            expect(row).to_contain_text(task_id)
        walk.check("callback-endpoint")

        succeeded = rows.filter(has=page.get_by_role("rowheader", name="succeeded", exact=True))
        succeeded.get_by_role("button", name="Send again").click()
        expect(page.get_by_text("The succeeded callback will be sent again now.")).to_be_visible()
        poll_until(
            lambda: len(receiver.received) == 4,
            timeout=30,
            message=lambda: f"received {receiver.received}",
        )
        page.reload()
        expect(succeeded.locator(".delivery-attempts")).to_have_text("2")
        walk.close()
        browser.close()

    assert problems == []
    events = [json.loads(record["body"])["event"] for record in receiver.received]
    assert sorted(events) == ["started", "submitted", "succeeded", "succeeded"]
    for record in receiver.received:
        signature_verify(
            secret=secret, headers=record["headers"], body=record["body"].encode(), now=record["at"]
        )
