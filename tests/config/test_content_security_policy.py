"""The Content-Security-Policy header (issue 15, finding 8), without a browser: what each kind of
page answers, and that no template of ours carries what the policy refuses. The browser's own
verdict on every page is tests/e2e/test_content_security_policy.py.
"""

import re
from http import HTTPStatus
from pathlib import Path

import pytest
from django.conf import settings

from config.api_docs import REDOC_STYLE_HASHES
from tests.admin_support import sign_in_with_mfa, staff_user

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"
STATIC_JS = Path(settings.BASE_DIR) / "static" / "js"


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


BASE = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/api/docs/", "/healthz", "/nowhere/"])
def test_pages_answer_the_site_policy(client, path):
    response = client.get(path)

    assert directives(response["Content-Security-Policy"]) == BASE


def test_the_api_docs_run_no_inline_script_and_load_nothing_from_outside(client):
    for path in ("/api/docs/", "/api/redoc/"):
        page = client.get(path).content.decode()
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == [], path
        assert "<style" not in page and "style=" not in page, path
        assert re.findall(r"(?:src|href)=\"(?:https?:)?//", page) == [], path


def test_redoc_alone_gets_a_nonce_and_its_bundles_stylesheet_hashes(client):
    first = directives(client.get("/api/redoc/")["Content-Security-Policy"])
    second = directives(client.get("/api/redoc/")["Content-Security-Policy"])

    nonce = first["style-src"][1]
    assert re.fullmatch(r"'nonce-[A-Za-z0-9+/=]{24}'", nonce)
    assert first["style-src"] == ["'self'", nonce, *REDOC_STYLE_HASHES]
    assert second["style-src"][1] != nonce
    assert {key: value for key, value in first.items() if key != "style-src"} == {
        key: value for key, value in BASE.items() if key != "style-src"
    }


def test_only_the_queue_dashboard_gets_its_inline_script_and_styles(client):
    sign_in_with_mfa(client, staff_user())

    dashboard = client.get("/admin/rq/")
    back_office = client.get("/admin/")

    assert dashboard.status_code == back_office.status_code == HTTPStatus.OK
    assert directives(dashboard["Content-Security-Policy"]) == {
        **BASE,
        "script-src": ["'self'", "'sha256-1kZe1KRxelr3ptMPsod17Z6BDvbtm4WcufgsZGvsErM='"],
        "style-src": ["'self'", "'unsafe-inline'"],
    }
    assert directives(back_office["Content-Security-Policy"]) == BASE


def test_no_template_or_script_of_ours_needs_what_the_policy_refuses():
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE
    )
    found = [
        f"{path.relative_to(settings.BASE_DIR)}: {match.group(0)}"
        for path in TEMPLATES.rglob("*.html")
        for match in inline.finditer(path.read_text())
    ]
    runtime = re.compile(r"\beval\(|new Function|setAttribute\(\s*[\"']style|\.innerHTML\s*=")
    found += [
        f"{path.relative_to(settings.BASE_DIR)}: {match.group(0)}"
        for path in STATIC_JS.glob("*.js")
        for match in runtime.finditer(path.read_text())
    ]

    assert found == []
