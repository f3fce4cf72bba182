import json
from datetime import UTC, datetime, timedelta
from datetime import timezone as fixed_offset
from http import HTTPStatus

import pytest
from django.utils import timezone

from accounts.models import GdprToken, Role
from accounts.services import gdpr_token_reset
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

RETRIEVALS = "/api/app/data-retrievals/v3.0/"
DELETIONS = "/api/app/data-deletions/v3.0/"


@pytest.fixture
def owner_token(project):
    user = MembershipFactory(organization=project.organization, role=Role.OWNER).user
    return gdpr_token_reset(user=user)


@pytest.fixture
def api(client, project, owner_token, django_capture_on_commit_callbacks):
    """Calls the API like Mixpanel's clients: ?token=, Bearer, JSON."""

    def call(
        method,
        path,
        body=None,
        *,
        token=None,
        project_token=None,
        raw=None,
        content_type="application/json",
        headers=None,
        run=False,
    ):
        query = f"?token={project.token if project_token is None else project_token}"
        extra = {"HTTP_AUTHORIZATION": f"Bearer {owner_token if token is None else token}"}
        if token == "":
            extra = {}
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        with django_capture_on_commit_callbacks(execute=run):
            return getattr(client, method)(
                path + query, data=data, content_type=content_type, **extra
            )

    return call


def test_create_retrieval_answers_like_mixpanel(api):
    response = api("post", RETRIEVALS, {"distinct_ids": ["alice", "bob"]})

    assert response.status_code == HTTPStatus.CREATED
    task_id = response.json()["results"]["task_id"]
    assert response.json() == {"status": "ok", "results": {"task_id": task_id}}
    request = PrivacyRequest.objects.get(tracking_id=task_id)
    assert (request.kind, request.compliance, request.disclosure, request.channel) == (
        "export",
        "GDPR",
        "Data",
        "api",
    )


def test_status_with_and_without_trailing_slash(api):
    task_id = api("post", RETRIEVALS, {"distinct_ids": ["alice"]}, run=True).json()["results"][
        "task_id"
    ]

    with_slash = api("get", f"{RETRIEVALS}{task_id}/")
    without = api("get", f"{RETRIEVALS}{task_id}")

    assert with_slash.status_code == without.status_code == HTTPStatus.OK
    assert with_slash.json() == without.json()
    assert with_slash.json()["status"] == "ok"
    assert with_slash.json()["results"]["status"] == "SUCCESS"
    assert with_slash.json()["results"]["distinct_ids"] == ["alice"]


def test_create_without_trailing_slash(api):
    response = api("post", RETRIEVALS.rstrip("/"), {"distinct_ids": ["alice"]})

    assert response.status_code == HTTPStatus.CREATED


def test_curl_style_json_in_a_form_typed_body(api):
    response = api(
        "post",
        DELETIONS,
        raw='{"distinct_ids": ["alice"], "compliance_type": "ccpa"}',
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == HTTPStatus.CREATED
    request = PrivacyRequest.objects.get()
    assert (request.kind, request.compliance) == ("deletion", "CCPA")


def test_deletion_status_has_the_deletion_fields(api, project):
    task_id = api("post", DELETIONS, {"distinct_ids": ["alice"], "compliance_type": "GDPR"}).json()[
        "results"
    ]["task_id"]

    body = api("get", f"{DELETIONS}{task_id}").json()

    request = PrivacyRequest.objects.get(tracking_id=task_id)
    assert body == {
        "status": "ok",
        "results": {
            "status": "PENDING",
            "result": "",
            "distinct_ids": ["alice"],
            "reached_distinct_ids": [],  # an addition to Mixpanel's shape, filled once finished
            "tracking_id": task_id,
            "requesting_user": request.requester.email,
            "compliance_type": "GDPR",
            "project_id": project.id,
            "date_requested": request.received_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        },
    }


def test_date_requested_is_written_as_mixpanel_does(api):
    """`YYYY-MM-DDTHH:MM:SS` in UTC: no fraction, no offset, whatever the stored instant."""
    task_id = api("post", DELETIONS, {"distinct_ids": ["alice"]}).json()["results"]["task_id"]
    received = datetime(2026, 3, 4, 7, 6, 7, 891011, tzinfo=fixed_offset(timedelta(hours=2)))
    PrivacyRequest.objects.filter(tracking_id=task_id).update(received_at=received)

    body = api("get", f"{DELETIONS}{task_id}/").json()

    assert body["results"]["date_requested"] == "2026-03-04T05:06:07"


@pytest.mark.parametrize("path", [RETRIEVALS, DELETIONS])
def test_cancel_pending_is_204_and_after_started_is_405(api, path):
    first = api("post", path, {"distinct_ids": ["a"]}).json()["results"]["task_id"]
    second = api("post", path, {"distinct_ids": ["b"]}).json()["results"]["task_id"]
    PrivacyRequest.objects.filter(tracking_id=second).update(status=Status.STARTED)

    canceled = api("delete", f"{path}{first}/")
    refused = api("delete", f"{path}{second}")

    assert canceled.status_code == HTTPStatus.NO_CONTENT
    assert PrivacyRequest.objects.get(tracking_id=first).status == Status.REVOKED
    assert refused.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert refused.json() == {
        "status": "error",
        "error": (
            "This request is STARTED: a request can be canceled only while it is PENDING or "
            "STAGING; once STARTED it runs to the end."
        ),
    }
    assert PrivacyRequest.objects.get(tracking_id=second).status == Status.STARTED


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "distinct_ids is required: a list of 1 to 2,000 distinct_ids."),
        ({"distinct_ids": "alice"}, "distinct_ids must be a list of strings."),
        ({"distinct_ids": []}, "distinct_ids must hold at least one id."),
        ({"distinct_ids": ["a", 5]}, "distinct_ids[1] must be a string."),
        ({"distinct_ids": ["a", ""]}, "distinct_ids[1] is empty."),
        ({"distinct_ids": ["x" * 256]}, "distinct_ids[0] is longer than 255 characters."),
        (
            {"distinct_ids": [str(n) for n in range(2001)]},
            "distinct_ids holds 2001 unique ids; the limit is 2000.",
        ),
        (
            {"distinct_ids": ["a"], "compliance_type": "HIPAA"},
            "compliance_type must be one of GDPR, CCPA.",
        ),
        (
            {"distinct_ids": ["a"], "compliance_type": "CCPA", "disclosure_type": "All"},
            "disclosure_type must be one of Data, Categories, Sources.",
        ),
        (
            {"distinct_ids": ["a"], "disclosure_type": "Categories"},
            "GDPR requests return all data: disclosure_type must be absent or Data.",
        ),
        (["a"], "The request body must be a JSON object."),
    ],
)
def test_bad_retrieval_bodies_are_400_with_a_clear_message(api, body, message):
    response = api("post", RETRIEVALS, body)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"status": "error", "error": message}
    assert PrivacyRequest.objects.count() == 0


def test_a_sources_deletion_without_sources_is_refused(api):
    response = api(
        "post",
        DELETIONS,
        {"distinct_ids": ["a"], "compliance_type": "CCPA", "disclosure_type": "Sources"},
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == (
        "A deletion by Sources needs sources: a non-empty list of names."
    )
    assert PrivacyRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"compliance_type": "GDPR", "disclosure_type": "Categories", "categories": ["contact"]},
            "A GDPR deletion always removes all data: disclosure_type must be absent or Data.",
        ),
        (
            {"compliance_type": "CCPA", "disclosure_type": "Categories", "categories": ["dna"]},
            "Unknown categories dna; known: contact, identifiers, device, location, activity, "
            "marketing, purchases, custom.",
        ),
        (
            {"compliance_type": "CCPA", "disclosure_type": "Categories", "categories": "contact"},
            "A deletion by Categories needs categories: a non-empty list of names.",
        ),
        (
            {"compliance_type": "CCPA", "sources": ["engage"]},
            "categories and sources apply only to a CCPA deletion by Categories or Sources.",
        ),
    ],
)
def test_bad_deletion_scopes_are_400_with_a_clear_message(api, body, message):
    response = api("post", DELETIONS, {"distinct_ids": ["a"], **body})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"status": "error", "error": message}
    assert PrivacyRequest.objects.count() == 0


def test_a_ccpa_deletion_by_categories_is_stored_with_its_categories(api):
    response = api(
        "post",
        DELETIONS,
        {
            "distinct_ids": ["a"],
            "compliance_type": "ccpa",
            "disclosure_type": "categories",
            "categories": ["contact", "location"],
        },
    )

    assert response.status_code == HTTPStatus.CREATED
    request = PrivacyRequest.objects.get()
    assert (request.disclosure, request.scope) == ("Categories", ["contact", "location"])


def test_a_ccpa_deletion_without_disclosure_is_data_as_before(api):
    response = api("post", DELETIONS, {"distinct_ids": ["a"], "compliance_type": "CCPA"})

    assert response.status_code == HTTPStatus.CREATED
    request = PrivacyRequest.objects.get()
    assert (request.disclosure, request.scope) == ("Data", [])


@pytest.mark.parametrize("raw", ["{not json", "\xff\xfe", "null", '"text"'])
def test_invalid_json_is_400(api, raw):
    response = api("post", RETRIEVALS, raw=raw)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["status"] == "error"


def test_a_body_over_two_mebibytes_is_413(api):
    response = api("post", RETRIEVALS, raw='{"distinct_ids": ["' + "a" * (3 * 1024 * 1024) + '"]}')

    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json() == {"status": "error", "error": "The request body is too large."}


def test_conflict_is_409_with_the_ids_and_tasks(api):
    first = api("post", DELETIONS, {"distinct_ids": ["a", "b"]}).json()["results"]["task_id"]

    response = api("post", DELETIONS, {"distinct_ids": ["b", "c"]})

    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json() == {
        "status": "error",
        "error": {
            "error": f"1 of these ids already have a deletion in progress ({first}); wait for it "
            "to finish or cancel it.",
            "conflicting_distinct_ids": ["b"],
            "conflicting_task_ids": [first],
        },
    }


@pytest.mark.parametrize("token", ["", "gdpr_wrong", "Bearer", "not-even-a-token"])
def test_missing_or_bad_token_is_401_with_bearer_challenge(api, token):
    response = api("post", RETRIEVALS, {"distinct_ids": ["a"]}, token=token)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["status"] == "error"
    assert PrivacyRequest.objects.count() == 0


def test_expired_token_is_401(api, owner_token):
    GdprToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = api("get", f"{RETRIEVALS}whatever/")

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {"status": "error", "error": "Invalid or expired GDPR token."}


def test_reset_token_stops_working_at_once(api, owner_token):
    user = GdprToken.objects.get().user
    gdpr_token_reset(user=user)

    response = api("post", RETRIEVALS, {"distinct_ids": ["a"]}, token=owner_token)

    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_unknown_project_token_is_404_before_the_body_is_read(api):
    response = api("post", RETRIEVALS, raw="{broken", project_token="nope")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {"status": "error", "error": "NOT_FOUND"}


def test_unknown_task_is_404(api):
    response = api("get", f"{RETRIEVALS}does-not-exist/")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {"status": "error", "error": "NOT_FOUND"}


def test_a_retrieval_id_on_the_deletions_path_is_404(api):
    task_id = api("post", RETRIEVALS, {"distinct_ids": ["a"]}).json()["results"]["task_id"]

    assert api("get", f"{DELETIONS}{task_id}").status_code == HTTPStatus.NOT_FOUND


def test_a_member_token_is_403(api, project):
    member = MembershipFactory(organization=project.organization, role=Role.MEMBER).user

    response = api("post", RETRIEVALS, {"distinct_ids": ["a"]}, token=gdpr_token_reset(user=member))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json() == {
        "status": "error",
        "error": (
            "Only owners and admins of the project's organization can make privacy requests."
        ),
    }
    assert PrivacyRequest.objects.count() == 0


def test_another_organizations_task_is_404_even_for_its_owner(api, project):
    task_id = api("post", RETRIEVALS, {"distinct_ids": ["a"]}).json()["results"]["task_id"]
    other_project = ProjectFactory()
    stranger = MembershipFactory(organization=other_project.organization, role=Role.OWNER).user
    stranger_token = gdpr_token_reset(user=stranger)

    on_their_project = api(
        "get", f"{RETRIEVALS}{task_id}/", token=stranger_token, project_token=other_project.token
    )
    on_our_project = api("delete", f"{RETRIEVALS}{task_id}/", token=stranger_token)

    assert on_their_project.status_code == HTTPStatus.NOT_FOUND
    assert on_our_project.status_code == HTTPStatus.FORBIDDEN
    assert PrivacyRequest.objects.get(tracking_id=task_id).status == Status.PENDING


def test_rate_limit_is_429_with_retry_after(api, settings, monkeypatch):
    settings.PRIVACY_API_RATES = {**settings.PRIVACY_API_RATES, "create": "1/s", "read": "2/min"}
    monkeypatch.setattr("config.rate_limits.local_clock", lambda: 1_000_000.25)

    first = api("post", RETRIEVALS, {"distinct_ids": ["a"]})
    second = api("post", RETRIEVALS, {"distinct_ids": ["b"]})
    task_id = first.json()["results"]["task_id"]
    reads = [api("get", f"{RETRIEVALS}{task_id}") for _ in range(3)]

    assert first.status_code == HTTPStatus.CREATED
    assert second.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert second["Retry-After"] == "1"
    assert second.json() == {
        "status": "error",
        "error": "Request was throttled. Expected available in 1 second.",
    }
    assert [read.status_code for read in reads] == [200, 200, 429]
    # Two reads a minute: a burst of two, then one every 30 s.
    assert reads[2]["Retry-After"] == "30"
    assert PrivacyRequest.objects.count() == 1


def test_idempotency_key_returns_the_first_answer(api):
    headers = {"Idempotency-Key": "retry-42"}

    first = api("post", RETRIEVALS, {"distinct_ids": ["a"]}, headers=headers)
    again = api("post", RETRIEVALS, {"distinct_ids": ["a"]}, headers=headers)

    assert first.status_code == again.status_code == HTTPStatus.CREATED
    assert first.json() == again.json()
    assert PrivacyRequest.objects.count() == 1
    assert AuditEntry.objects.filter(action="submitted").count() == 1


@pytest.mark.parametrize(
    ("method", "path"), [("put", RETRIEVALS), ("get", RETRIEVALS), ("patch", DELETIONS)]
)
def test_wrong_method_is_405_in_the_api_shape(api, method, path):
    response = api(method, path)

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response.json()["status"] == "error"


def test_unknown_path_under_the_api_is_404_in_the_api_shape(client):
    response = client.get("/api/app/nothing-here/")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {"status": "error", "error": "NOT_FOUND"}


def test_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == docs.status_code == HTTPStatus.OK
    for operation in (
        "create_retrieval",
        "retrieval_status",
        "cancel_retrieval",
        "create_deletion",
        "deletion_status",
        "cancel_deletion",
        "list_requests",
    ):
        assert f"operationId: {operation}" in schema.content.decode()
    page = docs.content.decode()
    assert "swagger-ui" in page
    assert "cdn." not in page and "unpkg" not in page and "jsdelivr" not in page


def test_native_list_endpoint_pages_the_organizations_requests(
    api, client, project, owner_token, settings
):
    for n in range(3):
        api("post", RETRIEVALS, {"distinct_ids": [f"user{n}"]})
    ProjectFactory()  # another organization's project, with nothing visible here

    response = client.get("/api/requests/", HTTP_AUTHORIZATION=f"Bearer {owner_token}")

    assert response.status_code == HTTPStatus.OK
    assert [item["status"] for item in response.json()["results"]] == ["PENDING"] * 3
    assert response.json()["next"] is None
