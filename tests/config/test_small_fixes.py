"""Issue 17, item 8: the favicon, the API docs' placeholders, and the README's staff user."""

import re
from http import HTTPStatus
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_every_page_links_the_favicon_and_favicon_ico_leads_to_it(client):
    page = client.get(reverse("account_login")).content.decode()
    icon = client.get("/favicon.ico")

    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert icon.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert icon["Location"] == "/static/favicon.svg"
    assert (Path(settings.BASE_DIR) / "static" / "favicon.svg").read_text().startswith("<svg")


def test_the_api_description_keeps_its_placeholders_in_code_spans(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    description = schema["info"]["description"]
    assert "`Authorization: Bearer <GDPR token>` (reset it in Personal settings)" in description
    assert "`?token=<project token>`" in description
    # Markdown shown as HTML: a placeholder outside a code span would be read as a tag.
    outside_code = re.sub(r"`[^`]*`", "", description)
    assert "<" not in outside_code


def test_the_readmes_staff_user_command_makes_a_staff_user(monkeypatch):
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    assert "DJANGO_SUPERUSER_PASSWORD='…' python manage.py createsuperuser --noinput --email" in (
        readme
    )
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long staff password 1")

    call_command("createsuperuser", interactive=False, email="ops@example.com", verbosity=0)

    user = User.objects.get(email="ops@example.com")
    assert (user.is_staff, user.is_superuser) == (True, True)
    assert user.check_password("a long staff password 1")
