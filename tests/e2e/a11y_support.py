"""What the accessibility walk (test_pages_accessible.py) does on each page: axe-core (bundled
by axe-playwright-python, no CDN), aria-describedby, failed loads and requests to other sites,
and a screenshot; and the WCAG contrast of two colors."""

import contextlib
import re
import urllib.error
import urllib.request
from http import HTTPStatus
from pathlib import Path

from django.conf import settings
from django.db import connections

from tests.factories import DEFAULT_PASSWORD

SCREENSHOTS = Path(settings.BASE_DIR) / "test-output" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
BLOCKING_IMPACTS = ("serious", "critical")

DESCRIBEDBY_MISSING = """() => [...document.querySelectorAll('[aria-describedby]')].flatMap(
  element => element.getAttribute('aria-describedby').split(/\\s+/).filter(
    id => id && !document.getElementById(id)).map(id => `${element.id || element.name}→${id}`))"""


@contextlib.contextmanager
def connections_closed_on_exit():
    """While Playwright's loop runs, Django's connections are per context (asgiref): the ones
    opened in the test body are closed here, or they would outlive the test database."""
    try:
        yield
    finally:
        connections.close_all()


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(value) for value in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    """The WCAG contrast ratio of two CSS rgb()/rgba() colors (opaque ones)."""
    lighter, darker = sorted(
        (
            relative_luminance(tuple(map(int, re.findall(r"\d+", color)[:3])))
            for color in (first, second)
        ),
        reverse=True,
    )
    return (lighter + 0.05) / (darker + 0.05)


def api_status(base_url: str, *, project, tracking_id: str, token: str) -> int:
    url = f"{base_url}/api/app/data-retrievals/v3.0/{tracking_id}/?token={project.token}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class Walk:
    """One person's browser at one viewport: visits pages and checks each."""

    def __init__(self, browser, *, base_url: str, viewport: str, who: str, problems: list):
        from axe_playwright_python.sync_playwright import Axe

        self.base_url, self.viewport, self.who, self.problems = base_url, viewport, who, problems
        self.context = browser.new_context(viewport=VIEWPORTS[viewport])
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.axe = Axe()
        self.failed: list[str] = []
        self.outside: list[str] = []
        self.context.on("response", self._response)
        self.context.on("request", self._request)
        # The statuses a page answers on purpose (404, 403, 410 pages).
        self.expected_document_status: int = HTTPStatus.OK

    def _response(self, response) -> None:
        if response.status < 400:
            return
        if response.request.resource_type == "document" and (
            response.status == self.expected_document_status
        ):
            return
        self.failed.append(f"{response.status} {response.url}")

    def _request(self, request) -> None:
        if not request.url.startswith((self.base_url, "data:", "blob:", "about:")):
            self.outside.append(request.url)

    def goto(self, path: str, *, status: int = HTTPStatus.OK):
        self.expected_document_status = status
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.status == status, (path, response)
        return response

    def check(self, name: str) -> None:
        """axe, aria-describedby, failed loads and other sites, and a screenshot."""
        page = self.page
        page.wait_for_load_state("load")
        label = f"{self.viewport}/{self.who}/{name}"
        page.screenshot(
            path=str(SCREENSHOTS / f"a11y-{self.viewport}-{self.who}-{name}.png"), full_page=True
        )
        violations = [
            violation
            for violation in self.axe.run(page).response["violations"]
            if violation["impact"] in BLOCKING_IMPACTS
        ]
        for violation in violations:
            targets = [node["target"] for node in violation["nodes"]][:5]
            self.problems.append(f"{label} ({page.url}): axe {violation['id']} {targets}")
        for missing in page.evaluate(DESCRIBEDBY_MISSING):
            self.problems.append(f"{label}: aria-describedby names nothing: {missing}")
        self.problems.extend(f"{label}: {failed}" for failed in self.failed)
        self.problems.extend(f"{label}: asked another site for {url}" for url in self.outside)
        self.failed.clear()
        self.outside.clear()
        self.expected_document_status = HTTPStatus.OK

    def sign_in(self, email: str) -> None:
        self.goto("/accounts/login/")
        self.page.fill("input[name=login]", email)
        self.page.fill("input[name=password]", DEFAULT_PASSWORD)
        self.page.locator("form button[type=submit]").click()
        self.page.wait_for_load_state("load")

    def close(self) -> None:
        self.context.close()
