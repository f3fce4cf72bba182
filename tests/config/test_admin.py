import os
import subprocess
import sys
from http import HTTPStatus
from urllib.parse import quote

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.messages import get_messages
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from accounts.models import Role, User
from accounts.services import gdpr_token_issue
from config.admin_access import MFA_SETUP_MESSAGE
from tests.admin_support import (
    TOTP_SECRET,
    fresh_totp_code,
    sign_in_with_mfa,
    staff_user,
    totp_code,
)
from tests.config.test_settings import STRONG_KEYS
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "admin:accounts_user_changelist",
    "admin:accounts_organization_changelist",
    "admin:accounts_membership_changelist",
    "admin:accounts_gdprtoken_changelist",
    "admin:projects_project_changelist",
]


@pytest.fixture
def staff_client(client):
    """A superuser who signed in with a password and a TOTP code (MFA is on in test settings)."""
    sign_in_with_mfa(client, staff_user())
    return client


@pytest.fixture
def populated():
    membership = MembershipFactory(role=Role.OWNER)
    project = ProjectFactory(organization=membership.organization)
    gdpr_token_issue(user=membership.user)
    return membership, project


@pytest.mark.parametrize("url_name", CHANGELISTS)
def test_staff_sees_every_changelist(staff_client, populated, url_name):
    response = staff_client.get(reverse(url_name))

    assert response.status_code == HTTPStatus.OK


def test_staff_opens_each_change_page_without_secrets(staff_client, populated):
    membership, project = populated

    pages = [
        reverse("admin:accounts_user_change", args=[membership.user.id]),
        reverse("admin:accounts_organization_change", args=[membership.organization.id]),
        reverse("admin:accounts_gdprtoken_change", args=[membership.user.gdpr_token.id]),
        reverse("admin:projects_project_change", args=[project.id]),
    ]
    for page in pages:
        response = staff_client.get(page)
        assert response.status_code == HTTPStatus.OK, page
        content = response.content.decode()
        assert project.api_secret_hash not in content
        assert membership.user.gdpr_token.token_hash not in content


def test_staff_adds_a_user_by_email_who_is_emailed_to_choose_a_password(staff_client):
    response = staff_client.post(reverse("admin:accounts_user_add"), {"email": "new@example.com"})

    assert response.status_code == HTTPStatus.FOUND
    user = User.objects.get(email="new@example.com")
    assert not user.has_usable_password()
    assert EmailAddress.objects.get(user=user).verified is True
    assert [message.to for message in mail.outbox] == [["new@example.com"]]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_adding_a_user_who_exists_is_refused(staff_client, populated):
    membership, _ = populated

    response = staff_client.post(
        reverse("admin:accounts_user_add"), {"email": membership.user.email.upper()}
    )

    assert response.status_code == HTTPStatus.OK  # the form again, with its error
    assert "A user with this email address already exists." in response.content.decode()
    assert User.objects.filter(email__iexact=membership.user.email).count() == 1
    assert mail.outbox == []


def test_projects_cannot_be_added_in_the_admin(staff_client):
    response = staff_client.get(reverse("admin:projects_project_add"))

    assert response.status_code == HTTPStatus.FORBIDDEN


def test_non_staff_never_reach_the_admin(client, populated):
    membership, _ = populated
    client.force_login(membership.user)

    response = client.get(reverse("admin:index"))

    assert response.status_code == HTTPStatus.FOUND
    assert "/login/" in response["Location"]


# -- Who reaches the back office (DESIGN section 9). --

ADMIN_PAGES = [
    "/admin/",
    "/admin/privacy_requests/privacyrequest/",
    "/admin/projects/event/",
    "/admin/rq/",
    "/admin/rq/queues/0/failed/",
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Used TOTP codes and allauth's rate limits live in the cache; tests must not share them.
    cache.clear()


def sign_in_through_allauth(client, user, *, next_url="/admin/"):
    return client.post(
        f"{reverse('account_login')}?next={next_url}",
        {"login": user.email, "password": DEFAULT_PASSWORD},
    )


def test_anonymous_visitors_are_sent_to_allauths_sign_in(client):
    response = client.get("/admin/", follow=True)

    assert [url for url, _ in response.redirect_chain] == [
        "/admin/login/?next=/admin/",
        "/accounts/login/?next=%2Fadmin%2F",
    ]
    assert response.status_code == HTTPStatus.OK


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_non_staff_never_reach_any_admin_page(client, populated, path):
    membership, _ = populated
    client.force_login(membership.user)

    response = client.get(path, follow=True)

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.redirect_chain[-1][0].startswith("/admin/login/")


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_staff_without_totp_are_sent_to_set_it_up(client, path):
    client.force_login(staff_user(totp=False))

    response = client.get(path)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("mfa_activate_totp")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [MFA_SETUP_MESSAGE]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_staff_with_totp_but_no_mfa_in_this_session_must_enter_a_code(client, path):
    client.force_login(staff_user())

    response = client.get(path)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"{reverse('mfa_reauthenticate')}?next={quote(path, safe='')}"


def test_staff_sign_in_with_password_and_totp_code_reach_the_admin(client):
    user = staff_user()

    after_password = sign_in_through_allauth(client, user)
    assert after_password["Location"] == reverse("mfa_authenticate")
    # Signed in with a password only: not yet signed in at all.
    assert client.get("/admin/")["Location"].startswith("/admin/login/")

    after_code = client.post(reverse("mfa_authenticate"), {"code": fresh_totp_code()})
    assert after_code["Location"] == "/admin/"
    assert client.get("/admin/").status_code == HTTPStatus.OK


def test_a_wrong_totp_code_keeps_staff_out(client):
    user = staff_user()
    sign_in_through_allauth(client, user)

    wrong = str((int(totp_code()) + 1) % 1_000_000).zfill(6)
    response = client.post(reverse("mfa_authenticate"), {"code": wrong})

    assert response.status_code == HTTPStatus.OK  # the form again, with its error
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_staff_confirming_a_code_later_in_the_session_reach_the_admin(client):
    client.force_login(staff_user())
    path = "/admin/privacy_requests/privacyrequest/"

    confirm = client.get(path)["Location"]
    response = client.post(confirm, {"code": fresh_totp_code()})

    assert response["Location"] == path
    assert client.get(path).status_code == HTTPStatus.OK


@pytest.mark.django_db(transaction=True)  # allauth signals the activation on commit
def test_staff_who_set_up_totp_in_this_session_reach_the_admin(client):
    user = staff_user(totp=False)
    sign_in_through_allauth(client, user)  # no authenticator yet: signed in with the password

    setup = client.get("/admin/")
    assert setup["Location"] == reverse("mfa_activate_totp")
    # allauth asks for the password again before adding an authenticator.
    confirm = client.get(setup["Location"])
    assert confirm["Location"].startswith(reverse("account_reauthenticate"))
    assert client.post(confirm["Location"], {"password": DEFAULT_PASSWORD}).status_code == (
        HTTPStatus.FOUND
    )
    page = client.get(setup["Location"])
    assert page.status_code == HTTPStatus.OK
    assert client.get("/admin/")["Location"] == reverse("mfa_activate_totp")  # not yet
    secret = client.session["mfa.totp.secret"]
    activated = client.post(setup["Location"], {"code": fresh_totp_code(secret)})

    assert activated.status_code == HTTPStatus.FOUND
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert client.get("/admin/").status_code == HTTPStatus.OK


def test_staff_need_no_totp_when_mfa_is_not_required(client, settings):
    settings.PRIVACY_ADMIN_REQUIRE_MFA = False
    client.force_login(staff_user(totp=False))

    assert client.get("/admin/").status_code == HTTPStatus.OK


@pytest.mark.parametrize(("module", "required"), [("production", "True"), ("local", "False")])
def test_mfa_is_required_in_production_and_not_locally(module, required):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": f"config.settings.{module}",
        **STRONG_KEYS,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.PRIVACY_ADMIN_REQUIRE_MFA)",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == required


def test_the_admin_index_links_the_queue_views(staff_client):
    response = staff_client.get(reverse("admin:index"))

    content = response.content.decode()
    for url in [
        "/admin/rq/",
        "/admin/rq/queues/0/",
        "/admin/rq/workers/0/",
        "/admin/rq/queues/0/failed/",
        "/admin/rq/queues/0/scheduled/",
    ]:
        assert f'href="{url}"' in content, url
    assert "Failed RQ jobs are kept 7 days." in content


def test_jobs_are_enqueued_with_a_seven_day_failed_job_ttl(monkeypatch, settings):
    import fakeredis
    from rq import Queue

    from config import jobs
    from privacy_requests.services.queueing import privacy_request_enqueue
    from privacy_requests.tasks import sweep_schedule_next

    queue = Queue("default", connection=fakeredis.FakeRedis(), is_async=True)
    monkeypatch.setattr(jobs, "get_queue", lambda name=jobs.QUEUE_NAME: queue)
    monkeypatch.setattr("privacy_requests.tasks.get_queue", lambda: queue)

    assert privacy_request_enqueue(tracking_id="abc") is True
    sweep_schedule_next()

    assert settings.RQ_FAILED_JOB_TTL == 7 * 24 * 3600
    job_ids = queue.get_job_ids() + queue.scheduled_job_registry.get_job_ids()
    assert len(job_ids) == 2
    for job_id in job_ids:
        assert queue.fetch_job(job_id).failure_ttl == 7 * 24 * 3600, job_id


def test_staff_never_see_an_authenticators_secret(staff_client):
    user = staff_user()
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    page = reverse("admin:mfa_authenticator_change", args=[authenticator.id])

    response = staff_client.get(page)

    assert response.status_code == HTTPStatus.OK
    assert TOTP_SECRET not in response.content.decode()
    assert staff_client.post(page, {"data": "{}"}).status_code == HTTPStatus.FORBIDDEN
    assert staff_client.get(reverse("admin:mfa_authenticator_add")).status_code == (
        HTTPStatus.FORBIDDEN
    )
