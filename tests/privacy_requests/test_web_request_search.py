"""Issue 17, items 1 and 3 on the Data & Privacy pages: "did we handle Jane's request?" is
answered by the list's subject column and its search by distinct_id or tracking id, a download
link for finished exports, the given ids shown on the request page; and a failure reads as a
plain sentence, never as the worker's exception."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.utils import timezone

from privacy_requests.audit import audit_append
from privacy_requests.models import AuditEntry, PrivacyRequest, RequestSubject, Status
from privacy_requests.selectors import (
    privacy_request_list_for_organization,
    privacy_request_result_url,
)
from privacy_requests.services import privacy_sweep
from privacy_requests.web.presenters import audit_detail_summary, failure_cause
from projects.pii import distinct_id_hmac
from tests.factories import ProjectFactory
from tests.privacy_requests.web_support import detail_url, list_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def listed(response) -> list[str]:
    assert response.status_code == HTTPStatus.OK
    return [row["request"].tracking_id for row in response.context["rows"]]


def subject_cell(page: str, request) -> str:
    row = page.split(f'data-tracking-id="{request.tracking_id}"')[1].split("</tr>")[0]
    return row.split('data-field="subject">')[1].split("</td>")[0]


def finished_long_ago(*requests) -> None:
    PrivacyRequest.objects.filter(id__in=[r.id for r in requests]).update(
        status=Status.SUCCESS, finished_at=timezone.now() - timedelta(days=31)
    )


def test_search_matches_a_given_distinct_id_exactly(owner_client, organization, submit):
    jane = submit(distinct_ids=["jane@example.com", "bob"])
    upper = submit(distinct_ids=["Jane@example.com"])
    linked = submit(distinct_ids=["carol"])
    RequestSubject.objects.create(request=linked, distinct_id="jane-phone", position=1, linked=True)

    def search(term):
        return listed(owner_client.get(list_url(organization), {"search": term}))

    assert search("jane@example.com") == [jane.tracking_id]
    assert search("Jane@example.com") == [upper.tracking_id]  # ids are case-sensitive
    assert search("bob") == [jane.tracking_id]
    assert search("jane") == []  # no partial match on ids
    assert search(" bob") == []  # spaces are part of an id
    assert search("jane-phone") == []  # only the ids the requester gave
    assert sorted(search("")) == sorted([jane.tracking_id, upper.tracking_id, linked.tracking_id])


def test_search_by_the_start_of_a_tracking_id(owner_client, organization, submit):
    first = submit(distinct_ids=["alice"])
    second = submit(distinct_ids=["bob"])

    def search(term):
        return listed(owner_client.get(list_url(organization), {"search": term}))

    # The list shows the first 12 characters of a tracking id; they are what people quote.
    assert search(first.tracking_id[:12]) == [first.tracking_id]
    assert search(f"  {second.tracking_id[:12]} ") == [second.tracking_id]
    assert search(second.tracking_id) == [second.tracking_id]


def test_search_keeps_to_the_organization_and_the_other_filters(owner_client, organization, submit):
    submit(distinct_ids=["alice"])
    deletion = submit(distinct_ids=["alice"], kind="deletion")
    theirs = ProjectFactory()
    page = owner_client.get(list_url(organization), {"search": "alice", "kind": "deletion"})

    assert listed(page) == [deletion.tracking_id]
    assert theirs.name not in page.content.decode()


def test_a_search_that_finds_nothing_says_how_ids_are_matched(owner_client, organization, submit):
    submit(distinct_ids=["alice"])

    page = owner_client.get(list_url(organization), {"search": "Alice"}).content.decode()

    assert "No request matches the search." in page
    assert "ids are case-sensitive" in page


def test_the_distinct_id_search_goes_through_the_index(owner, organization, submit):
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    submit(distinct_ids=["alice"])
    requests = privacy_request_list_for_organization(
        user=owner, organization=organization, search="alice"
    )

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny tables: show what it can use
    plan = requests.explain()

    assert "request_subject_by_id" in plan, plan


def test_the_subject_column_shows_the_first_two_ids_and_how_many_more(
    owner_client, organization, submit
):
    many = submit(distinct_ids=["jane", "  padded  ", "c", "d", "e"])
    one = submit(distinct_ids=["solo"])

    page = owner_client.get(list_url(organization)).content.decode()

    assert subject_cell(page, many) == (
        '<code class="distinct-id">jane</code>, '
        '<code class="distinct-id spaced" title="This id begins or ends with a space">'
        '  padded  </code> <span class="more" title="5 ids given">+3</span>'
    )
    assert subject_cell(page, one) == '<code class="distinct-id">solo</code>'


def test_pseudonymized_ids_are_said_to_be_gone_and_still_found_by_search(
    owner_client, organization, project, submit
):
    old = submit(distinct_ids=["jane", "bob", "carol"], run=True)
    finished_long_ago(old)
    recent = submit(distinct_ids=["jane"])
    assert privacy_sweep().pseudonymized_requests == 1
    old.refresh_from_db()

    response = owner_client.get(list_url(organization), {"search": "jane"})

    assert listed(response) == [recent.tracking_id, old.tracking_id]
    page = response.content.decode()
    day = old.subjects_pseudonymized_at.date().isoformat()
    assert subject_cell(page, old) == (
        f'<span class="muted">3 ids, pseudonymized <time datetime="'
        f'{old.subjects_pseudonymized_at.isoformat()}">{day}</time></span>'
    )
    assert distinct_id_hmac(project_id=project.id, distinct_id="jane") not in page
    detail = owner_client.get(detail_url(old)).content.decode()
    assert (
        "The 3 ids given are no longer kept: they were replaced by keyed hashes (HMACs) on "
        f"{day}, 30 days after the request ended."
    ) in detail
    assert distinct_id_hmac(project_id=project.id, distinct_id="bob") not in detail


def test_a_finished_export_with_a_file_has_a_download_link_in_the_list(
    owner_client, organization, submit, add_event
):
    add_event("alice")
    export = submit(distinct_ids=["alice"], run=True)
    gone = submit(distinct_ids=["alice"], run=True)
    pending = submit(distinct_ids=["alice"])
    PrivacyRequest.objects.filter(id=gone.id).update(
        result_purged_at=timezone.now(), result_purge_reason="expired"
    )
    export.refresh_from_db()
    assert export.status == Status.SUCCESS

    response = owner_client.get(list_url(organization))

    rows = {row["request"].tracking_id: row for row in response.context["rows"]}
    url = privacy_request_result_url(request=export, absolute_base="http://testserver/")
    assert url.startswith("http://testserver/")
    assert rows[export.tracking_id]["download_url"] == url
    assert (rows[gone.tracking_id]["download_url"], rows[pending.tracking_id]["download_url"]) == (
        "",
        "",
    )
    page = response.content.decode()
    assert f'<a href="{url}" rel="noreferrer" data-download>Download ZIP' in page
    assert page.count("data-download>") == 1
    assert owner_client.get(url).status_code == HTTPStatus.OK


def test_the_list_reads_a_page_in_a_fixed_number_of_queries(
    owner_client, organization, submit, django_assert_max_num_queries
):
    for n in range(3):
        submit(distinct_ids=[f"user-{n}", f"other-{n}", "third"])
    with django_assert_max_num_queries(30) as few:
        owner_client.get(list_url(organization))
    for n in range(3, 20):
        submit(distinct_ids=[f"user-{n}", f"other-{n}", "third"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        owner_client.get(list_url(organization))


def test_the_request_page_shows_the_given_ids_open(owner_client, submit):
    request = submit(distinct_ids=["jane", "bob"])

    page = owner_client.get(detail_url(request)).content.decode()

    assert '<details class="ids" open>' in page
    assert '<li><code class="distinct-id">jane</code></li>' in page


def test_a_failure_reads_as_a_sentence_and_the_audit_trail_hides_the_exception(
    owner_client, submit
):
    request = submit(distinct_ids=["jane"])
    error = "ResultStorageError: FileNotFoundError: [Errno 2] '/proc/1234/private/exports/x.zip'"
    PrivacyRequest.objects.filter(id=request.id).update(status=Status.FAILURE, error=error)
    audit_append(
        organization_id=request.organization_id,
        actor="system",
        action="failed",
        request=request,
        detail={"error": error},
    )

    page = owner_client.get(detail_url(request)).content.decode()

    assert "/proc/" not in page and "FileNotFoundError" not in page
    assert "ResultStorageError" not in page
    assert (
        "<strong>This export stopped before it finished, because its file could not be saved."
        "</strong>"
    ) in page
    assert (
        "Passing faults were already retried automatically. You can retry it; if it stops "
        f"again, contact support and quote the tracking id {request.tracking_id}."
    ) in page
    assert "stopped because its file could not be saved" in page.split('<h2 id="audit">')[1]


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (
            "Processing took longer than the 3600 s job timeout.",
            "because it took longer than a request may run",
        ),
        (
            "Gave up after 4 tries: OperationalError: server closed the connection",
            "because a service it needs (the database or the file storage) kept failing",
        ),
        ("ResultStorageError: disk full at /var/lib/x", "because its file could not be saved"),
        (
            "Gave up after 4 tries: ResultStorageError: Could not save the file (PermissionError)",
            "because its file could not be saved",
        ),
        ("ValueError: event 42 /srv/app/x.py", "because of an error on our side"),
        ("", "because of an error on our side"),
    ],
)
def test_failure_causes_are_plain_words(error, cause):
    assert failure_cause(error) == cause


def test_a_retried_entry_does_not_repeat_the_previous_error():
    entry = AuditEntry(action="retried", detail={"previous_error": "OSError: /srv/secret"})

    assert audit_detail_summary(entry) == "run again on the same tracking id"
