"""Organization settings → Data & Privacy: the list, the request page, its JSON status, cancel
and retry, who may see them; and the personal settings additions."""

import re
from datetime import timedelta
from html.parser import HTMLParser
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from accounts.actors import Actor
from accounts.models import Role
from accounts.services import gdpr_token_issue
from privacy_requests.audit import subject_hmac
from privacy_requests.engine import registry
from privacy_requests.models import AuditEntry, PrivacyRequest, RequestDraft, Status
from privacy_requests.selectors import privacy_request_result_url
from privacy_requests.services import privacy_request_submit
from tests.factories import MembershipFactory, ProjectFactory
from tests.privacy_requests.web_support import (
    cancel_url,
    detail_url,
    list_url,
    retry_url,
    shown_messages,
    snapshot,
    status_url,
)

pytestmark = pytest.mark.django_db


def member_reason(organization) -> str:
    return (
        f"Only owners and admins of {organization.name} can see and submit its privacy requests "
        "(data exports and deletions). You are a member: ask an owner or admin if an end user's "
        "data needs exporting or deleting."
    )


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def make_request(project, owner):
    """A request submitted through the service, its job not run (it stays PENDING)."""

    def make(
        *,
        target=None,
        actor_user=None,
        kind="export",
        compliance="GDPR",
        distinct_ids=("alice",),
        **changes,
    ):
        target = target or project
        user = actor_user or owner
        if actor_user is None and target.organization_id != project.organization_id:
            user = MembershipFactory(organization=target.organization, role=Role.OWNER).user
        request = privacy_request_submit(
            project=target,
            actor=Actor(user=user, via="web"),
            channel="web",
            kind=kind,
            compliance=compliance,
            distinct_ids=list(distinct_ids),
        )
        if changes:
            PrivacyRequest.objects.filter(id=request.id).update(**changes)
            request.refresh_from_db()
        return request

    return make


def page_urls(organization, request) -> list[str]:
    return [
        list_url(organization),
        reverse("privacy_web:list_status", args=[organization.id]) + f"?t={request.tracking_id}",
        reverse("privacy_web:export_new", args=[organization.id]),
        reverse("privacy_web:deletion_new", args=[organization.id]),
        detail_url(request),
        status_url(request),
        cancel_url(request),
    ]


# --- who sees what ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_open_every_page(
    signed_in, make_member, organization, make_request, role
):
    request = make_request()
    client = signed_in(make_member(role))

    for url in page_urls(organization, request):
        assert client.get(url).status_code == HTTPStatus.OK, url


def test_members_get_403_with_a_plain_explanation(signed_in, member, organization, make_request):
    request = make_request()
    client = signed_in(member)

    for url in page_urls(organization, request):
        response = client.get(url)
        assert response.status_code == HTTPStatus.FORBIDDEN, url
        if "json" in response["Content-Type"]:
            assert response.json() == {"error": member_reason(organization)}
        else:
            assert escape(member_reason(organization)) in response.content.decode()


def test_other_organizations_get_404_and_no_hint(signed_in, outsider, organization, make_request):
    request = make_request()
    client = signed_in(outsider)

    for url in page_urls(organization, request):
        response = client.get(url)
        assert response.status_code == HTTPStatus.NOT_FOUND, url
        assert request.tracking_id not in response.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client, organization, make_request):
    request = make_request()

    for url in page_urls(organization, request):
        response = client.get(url)
        assert response.status_code == HTTPStatus.FOUND, url
        assert response["Location"].startswith(f"{reverse('account_login')}?next=")


def test_a_request_of_another_organization_is_404_under_this_organizations_url(
    signed_in, owner, organization, make_request
):
    elsewhere = ProjectFactory()
    MembershipFactory(user=owner, organization=elsewhere.organization, role=Role.OWNER)
    theirs = make_request(target=elsewhere)
    client = signed_in(owner)
    wrong = reverse("privacy_web:detail", args=[organization.id, theirs.tracking_id])

    assert client.get(wrong).status_code == HTTPStatus.NOT_FOUND
    assert client.get(detail_url(theirs)).status_code == HTTPStatus.OK
    assert (
        client.get(reverse("privacy_web:detail", args=[organization.id, "nope"])).status_code
        == HTTPStatus.NOT_FOUND
    )


@pytest.mark.parametrize("who", ["member", "outsider"])
def test_refused_users_change_nothing_by_posting(
    signed_in, request_fixture_user, who, organization, project, make_request
):
    pending = make_request()
    failed = make_request(status=Status.FAILURE, error="ValueError: broken")
    client = signed_in(request_fixture_user(who))
    before = snapshot()
    expected = HTTPStatus.FORBIDDEN if who == "member" else HTTPStatus.NOT_FOUND

    posts = [
        (
            reverse("privacy_web:export_new", args=[organization.id]),
            {"compliance": "GDPR", "project": project.id, "ids_from": "one", "distinct_id": "bob"},
        ),
        (
            reverse("privacy_web:deletion_new", args=[organization.id]),
            {"compliance": "GDPR", "project": project.id, "ids_from": "one", "distinct_id": "bob"},
        ),
        (cancel_url(pending), {}),
        (retry_url(failed), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == expected, url

    assert snapshot() == before


@pytest.fixture
def request_fixture_user(member, outsider):
    return {"member": member, "outsider": outsider}.get


def test_header_links_to_data_and_privacy_only_for_owners_and_admins(
    signed_in, owner, member, organization
):
    link = f'<a href="{list_url(organization)}">Data &amp; Privacy</a>'

    assert link in signed_in(owner).get(reverse("projects:list")).content.decode()
    assert (
        "Data &amp; Privacy</a>"
        not in signed_in(member).get(reverse("projects:list")).content.decode()
    )


def test_privacy_home_goes_to_the_only_organization_or_offers_a_choice(
    signed_in, owner, organization, member
):
    client = signed_in(owner)
    response = client.get(reverse("privacy_web:home"))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == list_url(organization)

    second = MembershipFactory(user=owner, role=Role.ADMIN).organization
    page = client.get(reverse("privacy_web:home")).content.decode()
    assert f'href="{list_url(organization)}"' in page
    assert f'href="{list_url(second)}"' in page

    refused = signed_in(member).get(reverse("privacy_web:home"))
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert "You are not an owner or admin of any organization." in refused.content.decode()


def test_project_list_links_to_each_organizations_data_and_privacy(
    signed_in, owner, organization, project
):
    page = signed_in(owner).get(reverse("projects:list")).content.decode()

    assert f'<a href="{list_url(organization)}">Data &amp; Privacy</a>' in page
    assert f'href="{list_url(organization)}?project={project.id}"' in page


# --- the list -------------------------------------------------------------------------------


def test_list_shows_the_organizations_requests_with_every_column(
    signed_in, owner, admin_user, organization, project, make_request
):
    export = make_request(distinct_ids=("alice", "bob", "alice"), compliance="CCPA")
    deletion = make_request(kind="deletion", actor_user=admin_user, distinct_ids=("carol",))
    theirs = make_request(target=ProjectFactory())

    response = signed_in(owner).get(list_url(organization))

    assert response.status_code == HTTPStatus.OK
    rows = response.context["rows"]
    assert [row["request"] for row in rows] == [deletion, export]
    assert [(row["given"].first, row["given"].count) for row in rows] == [
        (["carol"], 1),
        (["alice", "bob"], 2),
    ]
    page = response.content.decode()
    assert theirs.tracking_id not in page
    row = page.split(f'data-tracking-id="{export.tracking_id}"')[1].split("</tr>")[0]
    assert '>Export (Data)<span class="visually-hidden">' in row
    assert '<td data-label="Compliance" class="meta">CCPA</td>' in row
    assert f'<td data-label="Project" class="meta">{project.name}</td>' in row
    assert (
        '<td data-label="Subject" class="subject" data-field="subject">'
        '<code class="distinct-id">alice</code>, <code class="distinct-id">bob</code></td>'
    ) in row
    assert '<span class="status status-pending" data-field="status">PENDING</span>' in row
    assert 'value="0"' in row and "Waiting for a worker" in row
    assert f"by {owner.email} on this site</div>" in row
    assert f'datetime="{export.received_at.isoformat()}"' in row
    assert f'datetime="{export.due_at.isoformat()}"' in row
    assert "Overdue" not in row
    deletion_row = page.split(f'data-tracking-id="{deletion.tracking_id}"')[1].split("</tr>")[0]
    assert f"by {admin_user.email} on this site</div>" in deletion_row
    assert '>Deletion<span class="visually-hidden">' in deletion_row


def test_list_flags_overdue_requests_that_are_not_done(
    signed_in, owner, organization, make_request
):
    past = timezone.now() - timedelta(days=1)
    late = make_request(due_at=past)
    done = make_request(due_at=past, status=Status.SUCCESS)

    response = signed_in(owner).get(list_url(organization))

    flags = {row["request"].tracking_id: row["overdue"] for row in response.context["rows"]}
    assert flags == {late.tracking_id: True, done.tracking_id: False}
    assert response.content.decode().count('<strong class="overdue" data-field="overdue">') == 1


@pytest.mark.parametrize("query", ["project", "status", "kind"])
def test_list_filters_by_project_status_and_type(
    signed_in, owner, organization, project, make_request, query
):
    other_project = ProjectFactory(organization=organization)
    wanted = make_request(kind="deletion", status=Status.SUCCESS)
    make_request(target=other_project, kind="deletion", status=Status.SUCCESS)
    make_request(kind="export", status=Status.SUCCESS)
    make_request(kind="deletion", distinct_ids=("zed",))
    params = {"project": project.id, "status": "SUCCESS", "kind": "deletion"}
    client = signed_in(owner)

    response = client.get(list_url(organization), params)
    assert [row["request"] for row in response.context["rows"]] == [wanted]

    single = client.get(list_url(organization), {query: params[query]})
    expected = {
        "project": PrivacyRequest.objects.filter(project=project),
        "status": PrivacyRequest.objects.filter(status=Status.SUCCESS),
        "kind": PrivacyRequest.objects.filter(kind="deletion"),
    }[query]
    assert {row["request"] for row in single.context["rows"]} == set(expected)


def test_a_filter_on_another_organizations_project_is_refused(
    signed_in, owner, organization, make_request
):
    make_request()
    theirs = ProjectFactory()

    response = signed_in(owner).get(list_url(organization), {"project": theirs.id})

    assert response.status_code == HTTPStatus.OK
    assert response.context["filters"].errors == {
        "project": ["Select a valid choice. That choice is not one of the available choices."]
    }
    assert theirs.name not in response.content.decode()


def test_list_is_paginated_and_keeps_filters(signed_in, owner, organization, make_request):
    made = [make_request(distinct_ids=(f"user-{n}",)) for n in range(23)]
    client = signed_in(owner)

    first = client.get(list_url(organization), {"kind": "export"})
    second = client.get(list_url(organization), {"kind": "export", "page": 2})

    assert len(first.context["rows"]) == 20
    assert [row["request"] for row in second.context["rows"]] == made[2::-1]
    assert 'href="?kind=export&amp;page=2"' in first.content.decode()
    assert "Page 1 of 2 (23 requests)" in first.content.decode()


def test_list_without_requests_or_projects_says_so(signed_in, owner, organization):
    page = signed_in(owner).get(list_url(organization)).content.decode()

    assert "No privacy requests yet." in page
    assert "This organization has no project yet" in page
    assert reverse("privacy_web:export_new", args=[organization.id]) not in page


def test_list_status_json_reports_only_this_organizations_requests(
    signed_in, owner, organization, make_request
):
    mine = make_request()
    theirs = make_request(target=ProjectFactory())
    url = reverse("privacy_web:list_status", args=[organization.id])

    response = signed_in(owner).get(url, {"t": [mine.tracking_id, theirs.tracking_id]})

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "requests": [
            {
                "tracking_id": mine.tracking_id,
                "status": "PENDING",
                "status_label": "Pending",
                "progress": 0,
                "progress_text": "Waiting for a worker",
                "live": True,
                "state": "PENDING",
                "watched": True,
                "overdue": False,
            }
        ]
    }
    assert "no-cache" in response["Cache-Control"]


# --- the request page -----------------------------------------------------------------------


def test_detail_shows_status_facts_ids_and_the_audit_trail_without_raw_ids(
    signed_in, owner, organization, project, make_request
):
    request = make_request(distinct_ids=("alice", "bob"))

    response = signed_in(owner).get(detail_url(request))

    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert f'<span class="mono tracking-id">{request.tracking_id}</span>' in page
    assert '<span class="status status-pending" data-field="status">PENDING</span>' in page
    assert f'data-poll-url="{status_url(request)}"' in page
    assert "<dt>Ids given</dt><dd>2</dd>" in page
    assert '<li><code class="distinct-id">alice</code></li>' in page
    assert '<li><code class="distinct-id">bob</code></li>' in page
    audit = page.split('<h2 id="audit">')[1]
    assert '<td data-label="Action">Submitted</td>' in audit
    assert f">{owner.email} on this site</td>" in audit
    assert "GDPR export of 2 ids via web" in audit
    for distinct_id in ("alice", "bob"):
        assert distinct_id not in audit
        assert subject_hmac(project_id=project.id, distinct_id=distinct_id) not in page
    assert f'href="{cancel_url(request)}"' in page
    assert retry_url(request) not in page


def test_request_status_json_reports_progress(signed_in, owner, make_request):
    request = make_request(
        status=Status.STARTED, progress={"phase": "export", "step": "events", "done": 3, "total": 4}
    )

    response = signed_in(owner).get(status_url(request))

    assert response.json() == {
        "tracking_id": request.tracking_id,
        "status": "STARTED",
        "status_label": "Started",
        "progress": 75,
        "progress_text": "75% done (events)",
        "live": True,
        "state": "STARTED",
        "watched": True,
        "overdue": False,
    }
    assert "no-cache" in response["Cache-Control"]


def test_a_finished_export_page_offers_its_download_and_stops_polling(
    signed_in, owner, submit, django_capture_on_commit_callbacks
):
    request = submit(run=True)
    request.refresh_from_db()
    assert request.status == Status.SUCCESS

    response = signed_in(owner).get(detail_url(request))

    page = response.content.decode()
    link = privacy_request_result_url(request=request, absolute_base="http://testserver/")
    assert link
    assert f'href="{link}"' in page
    assert "Download export (ZIP" in page
    assert "data-poll-url" not in page
    assert "Succeeded" in page


def test_a_failed_request_shows_a_plain_reason_and_a_retry_button(
    signed_in, owner, submit, monkeypatch
):
    def broken(run):
        raise ValueError("the processor broke")

    monkeypatch.setitem(registry.PROCESSORS, "export", broken)
    request = submit(run=True)

    page = signed_in(owner).get(detail_url(request)).content.decode()

    # The technical reason is the back office's; the customer reads what failed, what to do,
    # and the tracking id to quote.
    assert "ValueError" not in page and "the processor broke" not in page
    assert (
        "<strong>This export stopped before it finished, because of an error on our side.</strong>"
    ) in page
    assert f"contact support and quote the tracking id {request.tracking_id}." in page
    assert f'action="{retry_url(request)}"' in page
    assert cancel_url(request) not in page


def test_retry_moves_a_failure_back_to_pending(signed_in, owner, make_request):
    request = make_request(status=Status.FAILURE, error="ValueError: broken")

    response = signed_in(owner).post(retry_url(request), follow=True)

    assert response.redirect_chain == [(detail_url(request), HTTPStatus.FOUND)]
    request.refresh_from_db()
    assert (request.status, request.attempts) == (Status.PENDING, 2)
    assert shown_messages(response) == ["The request will run again; its due date stays the same."]
    assert AuditEntry.objects.filter(request=request, action="retried").count() == 1


@pytest.mark.parametrize("status", [Status.PENDING, Status.SUCCESS])
def test_retry_of_a_request_that_did_not_fail_changes_nothing(
    signed_in, owner, make_request, status
):
    request = make_request(status=status)
    before = snapshot()

    response = signed_in(owner).post(retry_url(request), follow=True)

    assert response.status_code == HTTPStatus.OK
    assert shown_messages(response) == [
        f"The request was not retried. This request is {status}: only a request that ended "
        "FAILURE can be retried."
    ]
    assert snapshot() == before


def test_get_on_retry_changes_nothing(signed_in, owner, make_request):
    request = make_request(status=Status.FAILURE)

    response = signed_in(owner).get(retry_url(request))

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == detail_url(request)
    assert PrivacyRequest.objects.get(id=request.id).status == Status.FAILURE


def test_cancel_asks_for_confirmation_then_revokes(signed_in, owner, make_request):
    request = make_request(kind="deletion")
    client = signed_in(owner)

    confirm = client.get(cancel_url(request))
    assert confirm.status_code == HTTPStatus.OK
    assert "nothing will be deleted" in confirm.content.decode()
    assert PrivacyRequest.objects.get(id=request.id).status == Status.PENDING

    response = client.post(cancel_url(request), follow=True)

    assert response.redirect_chain == [(detail_url(request), HTTPStatus.FOUND)]
    request.refresh_from_db()
    assert request.status == Status.REVOKED
    assert request.canceled_by == f"web:{owner.email}"
    assert shown_messages(response) == ["The request was canceled: nothing more will be done."]


@pytest.mark.parametrize("status", [Status.STARTED, Status.SUCCESS])
def test_cancel_after_start_is_refused_and_changes_nothing(signed_in, owner, make_request, status):
    request = make_request(status=status)
    client = signed_in(owner)
    before = snapshot()

    shown = client.get(cancel_url(request), follow=True)
    posted = client.post(cancel_url(request), follow=True)

    reason = f"This request is {status}: a request can be canceled only while it is PENDING or "
    assert shown_messages(shown)[0].startswith(reason)
    assert shown_messages(posted) == [
        f"The request was not canceled. {reason}STAGING; once STARTED it runs to the end."
    ]
    assert snapshot() == before


def test_posts_need_a_csrf_token(owner, make_request):
    request = make_request()
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    before = snapshot()

    assert client.post(cancel_url(request)).status_code == HTTPStatus.FORBIDDEN
    assert (
        client.post(
            reverse("privacy_web:export_new", args=[request.organization_id]),
            {
                "compliance": "GDPR",
                "project": request.project_id,
                "ids_from": "one",
                "distinct_id": "x",
            },
        ).status_code
        == HTTPStatus.FORBIDDEN
    )
    assert snapshot() == before


# --- personal settings ----------------------------------------------------------------------


def test_token_reset_asks_are_you_sure_and_the_new_token_has_a_copy_button(signed_in, owner):
    gdpr_token_issue(user=owner)
    client = signed_in(owner)

    page = client.get(reverse("accounts:personal_settings")).content.decode()
    assert (
        "Are you sure? Resetting invalidates any application using the current token: it "
        "stops working at once, and the new token is shown only once."
    ) in page

    created = client.post(reverse("accounts:gdpr_token_reset"), {"confirm": "on"}, follow=True)
    html = created.content.decode()
    assert re.search(
        r'<button type="button" class="secondary" data-copy-target="gdpr-token" '
        r'data-copy-status="copy-status" hidden>Copy</button>',
        html,
    )
    assert '<script src="/static/js/copy.js" defer></script>' in html


class _Controls(HTMLParser):
    """Form controls of a page, and the ids its labels point at."""

    def __init__(self):
        super().__init__()
        self.controls: list[dict] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "label" and attrs.get("for"):
            self.labelled.add(attrs["for"])
        if tag in ("input", "select", "textarea") and attrs.get("type") not in (
            "hidden",
            "submit",
            "button",
        ):
            self.controls.append(attrs)


def test_every_control_has_a_label(signed_in, owner, organization, project, make_request):
    request = make_request(kind="deletion")
    client = signed_in(owner)
    client.post(
        reverse("privacy_web:deletion_new", args=[organization.id]),
        {"compliance": "GDPR", "project": project.id, "ids_from": "one", "distinct_id": "zoe"},
    )
    draft = RequestDraft.objects.get()
    pages = [
        list_url(organization),
        reverse("privacy_web:export_new", args=[organization.id]),
        reverse("privacy_web:deletion_new", args=[organization.id]),
        reverse("privacy_web:deletion_preview", args=[organization.id, draft.id]),
        detail_url(request),
        cancel_url(request),
        reverse("projects:settings", args=[project.id]),
        reverse("accounts:personal_settings"),
    ]
    seen = 0
    for url in pages:
        parser = _Controls()
        parser.feed(client.get(url).content.decode())
        for control in parser.controls:
            assert control.get("id") in parser.labelled or control.get("aria-label"), (url, control)
        seen += len(parser.controls)
    # filters 4 (search, project, status, type), export form 10, deletion form 19 (7, and
    # issue 18's 3 disclosure radios, 8 category boxes, sources), preview 1, project settings 6
    # (the identity link rule's two radios, issue 14; event retention's months and tick, 20)
    assert seen == 40


def test_the_list_polls_only_while_a_listed_request_is_unfinished(
    signed_in, owner, organization, make_request
):
    done = make_request(status=Status.SUCCESS)
    client = signed_in(owner)
    assert "data-poll-url" not in client.get(list_url(organization)).content.decode()

    running = make_request(status=Status.STARTED)
    page = client.get(list_url(organization)).content.decode()

    status = reverse("privacy_web:list_status", args=[organization.id])
    assert f'data-poll-url="{status}?t={running.tracking_id}"' in page
    assert done.tracking_id not in page.split("data-poll-url")[1].split(">")[0]
