"""Invitations through the pages of a live server (issue 15, finding 7): a real `runserver` on
the PostgreSQL test database with a redis-server of the test's own as cache, emails printed by
the console backend and read off its output, as a person reads their mailbox.

An owner invites a person who has an account and one who has none, and reads the same words for
both. The first signs in and accepts; the second follows the link signed out, signs up through
allauth, confirms the address from allauth's email in the same browser, is brought back to the
link and accepts. Someone signed in with another address cannot accept, and a used link is dead.
"""

import json
import os
import re
from html import unescape
from http import HTTPStatus
from urllib.parse import urljoin

import pytest

from accounts.models import Invitation, Membership
from privacy_requests.models import AuditEntry
from tests.e2e.conftest import HttpClient, poll_until, unused_port

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery-staple"
OWNER = "owner@acme.test"
ALICE = "alice@example.test"  # has an account
NEWCOMER = "newcomer@example.test"  # has none
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
MESSAGE = re.compile(r'<li class="message [^"]*">([^<]+)</li>')


@pytest.fixture
def site(database_url, redis_server, spawn, tmp_path):
    port = unused_port()  # not free_port: the test's redis-server holds that one
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        VAR_DIR=str(tmp_path / "var"),
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
        SITE_URL=base_url,
        PYTHONUNBUFFERED="1",
    )
    accounts = {}
    for organization, email in (("Acme", OWNER), ("Alice's", ALICE), ("Other", "eve@x.test")):
        command = spawn(
            "createorg", "--org", organization, "--owner", email, "--password", PASSWORD,
            "--project", "Web", "--json", env=env,
        )  # fmt: skip
        assert command.wait(timeout=60) == 0, command.output()
        accounts[email] = json.loads(command.lines[-1])
    web = spawn("runserver", "--noreload", f"127.0.0.1:{port}", env=env)
    web.wait_for_http(f"{base_url}/healthz", timeout=30)
    return {"base_url": base_url, "web": web, "acme": accounts[OWNER]["organization_id"]}


def form_post(client: HttpClient, page, data: dict, *, action: str | None = None):
    """Posts a form of the page as a browser would: its CSRF token, to its URL (or action)."""
    match = CSRF.search(page.text)
    assert match, page.text
    return client.post(
        urljoin(page.url, action or page.url), {"csrfmiddlewaretoken": match[1], **data}
    )


def messages(page) -> list[str]:
    return [unescape(text) for text in MESSAGE.findall(page.text)]


def mailed_link(site, *, to: str, path: str) -> str:
    """The first link under `path` in an email printed to `to` (the console backend)."""
    pattern = re.compile(rf"To: {re.escape(to)}\n.*?(http://\S+{re.escape(path)}\S+/)", re.S)

    def found():
        match = pattern.search(site["web"].output())
        return match and match[1]

    return poll_until(found, timeout=10, message=site["web"].output)


def test_people_join_by_accepting_their_invitation(site):
    base_url, acme = site["base_url"], site["acme"]
    owner = HttpClient()
    owner.sign_in(base_url, email=OWNER, password=PASSWORD)
    members = owner.get(f"{base_url}/orgs/{acme}/members/")
    assert members.status == HTTPStatus.OK

    # One invitation to an address with an account, one to an address without.
    to_alice = form_post(owner, members, {"email": ALICE, "role": "admin"})
    to_newcomer = form_post(owner, to_alice, {"email": NEWCOMER, "role": "member"})
    said = [messages(to_alice)[0].replace(ALICE, "X"), messages(to_newcomer)[0]]
    said[1] = said[1].replace(NEWCOMER, "X").replace("as Member", "as Admin")
    assert said[0] == said[1]
    assert said[0].startswith("We sent an invitation to X to join as Admin.")
    assert NEWCOMER in to_newcomer.text and "Withdraw" in to_newcomer.text
    assert not Membership.objects.filter(
        user__email__in=[ALICE, NEWCOMER], organization_id=acme
    ).exists()
    alice_link = mailed_link(site, to=ALICE, path="/invitations/")
    newcomer_link = mailed_link(site, to=NEWCOMER, path="/invitations/")

    # Someone signed in with another address reads whom it is for, and cannot accept.
    eve = HttpClient()
    eve.sign_in(base_url, email="eve@x.test", password=PASSWORD)
    eve_page = eve.get(alice_link)
    assert "but this invitation is for alice@example.test" in eve_page.text
    assert eve.post(alice_link, {}).status == HTTPStatus.FORBIDDEN  # no CSRF form: 403
    assert not Membership.objects.filter(user__email="eve@x.test", organization_id=acme).exists()

    # Alice signs in and accepts.
    alice = HttpClient()
    alice.sign_in(base_url, email=ALICE, password=PASSWORD)
    invitation_page = alice.get(alice_link)
    assert "Accept and join Acme" in invitation_page.text
    joined = form_post(alice, invitation_page, {})
    assert joined.status == HTTPStatus.OK
    assert joined.url == f"{base_url}/projects/"
    assert messages(joined) == ["You joined Acme as Admin."]
    assert Membership.objects.get(user__email=ALICE, organization_id=acme).role == "admin"
    assert alice.get(alice_link).status == HTTPStatus.NOT_FOUND  # used up

    # The newcomer follows the link signed out, signs up, confirms, comes back and accepts.
    newcomer = HttpClient()
    landing = newcomer.get(newcomer_link)
    assert landing.status == HTTPStatus.OK
    signup_href = unescape(re.search(r'href="(/accounts/signup/\?next=[^"]+)"', landing.text)[1])
    signup = newcomer.get(urljoin(base_url, signup_href))
    sent = form_post(
        newcomer,
        signup,
        {"email": NEWCOMER, "password1": PASSWORD, "password2": PASSWORD},
        action=signup_href,
    )
    assert sent.url == f"{base_url}/accounts/confirm-email/", sent.text
    confirm_link = mailed_link(site, to=NEWCOMER, path="/accounts/confirm-email/")
    back = form_post(newcomer, newcomer.get(confirm_link), {})
    assert back.url == newcomer_link  # allauth brings them back to the invitation
    joined = form_post(newcomer, back, {})
    assert messages(joined) == ["You joined Acme as Member."]
    assert Membership.objects.get(user__email=NEWCOMER, organization_id=acme).role == "member"

    # Each acceptance is in Acme's audit chain, by the person, naming who invited them.
    entries = AuditEntry.objects.filter(organization_id=acme, action="membership_changed")
    assert sorted((entry.actor, entry.detail["invited_by"]) for entry in entries) == [
        (f"web:{ALICE}", f"web:{OWNER}"),
        (f"web:{NEWCOMER}", f"web:{OWNER}"),
    ]
    assert Invitation.objects.filter(accepted_at__isnull=True).count() == 0
