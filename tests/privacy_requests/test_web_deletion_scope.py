"""The deletion form's CCPA choice of categories or sources, and the preview's counts
(issue 18)."""

from http import HTTPStatus

import pytest

from privacy_requests.models import PrivacyRequest, RequestDraft
from tests.privacy_requests.deletion_support import events_add, profile_add
from tests.privacy_requests.web_support import deletion_url, preview_url

pytestmark = pytest.mark.django_db

JANE = "jane@end-user.test"


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def jane(project):
    events_add(project, JANE, 3, properties={"$email": JANE, "$city": "Lisbon", "plan": "pro"})
    profile_add(project, JANE, {"$email": JANE, "$name": "Jane"})
    events_add(project, "bob", 2, properties={"$email": "bob@x.test"})


def form(project, **extra):
    return {
        "compliance": "CCPA",
        "project": project.id,
        "ids_from": "one",
        "distinct_id": JANE,
        **extra,
    }


def test_a_categories_deletion_previews_counts_per_category(
    owner_client, organization, project, jane
):
    response = owner_client.post(
        deletion_url(organization),
        form(project, disclosure="Categories", categories=["contact"]),
        follow=True,
    )

    draft = RequestDraft.objects.get()
    assert (draft.disclosure, draft.scope) == ("Categories", ["contact"])
    rows = {row.key: row for row in response.context["scope_rows"]}
    # 3 events' $email, the profile's $email and $name; bob's are not counted.
    assert (rows["contact"].removed, rows["contact"].values) == (True, 5)
    assert (rows["contact"].events, rows["contact"].profiles) == (3, 1)
    assert (rows["location"].removed, rows["location"].values) == (False, 3)
    page = response.content.decode()
    assert 'data-scope="contact"' in page and "Deleted" in page


def test_confirming_submits_a_ccpa_deletion_by_categories(
    owner_client, organization, project, jane
):
    owner_client.post(
        deletion_url(organization), form(project, disclosure="Categories", categories=["contact"])
    )
    owner_client.post(preview_url(RequestDraft.objects.get()), {"confirm": "on"})

    request = PrivacyRequest.objects.get()
    assert (request.compliance, request.disclosure, request.scope) == (
        "CCPA",
        "Categories",
        ["contact"],
    )


def test_a_sources_deletion_previews_counts_per_source(owner_client, organization, project, jane):
    response = owner_client.post(
        deletion_url(organization),
        form(project, disclosure="Sources", sources="track/python 5.4.1\n\nengage\n"),
        follow=True,
    )

    assert RequestDraft.objects.get().scope == ["track/python 5.4.1", "engage"]
    rows = {row.key: row for row in response.context["scope_rows"]}
    assert (rows["track/python 5.4.1"].removed, rows["track/python 5.4.1"].events) == (True, 3)
    assert (rows["engage"].removed, rows["engage"].profiles) == (True, 1)


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        (
            {"compliance": "GDPR", "disclosure": "Categories", "categories": ["contact"]},
            "disclosure",
            "A GDPR deletion always removes everything",
        ),
        ({"disclosure": "Categories"}, "categories", "Choose at least one category"),
        ({"disclosure": "Sources", "sources": "  \n"}, "sources", "Enter at least one source"),
        ({"disclosure": "Categories", "categories": ["dna"]}, "categories", "valid choice"),
    ],
)
def test_bad_choices_are_form_errors(owner_client, organization, project, extra, field, message):
    response = owner_client.post(deletion_url(organization), form(project, **extra))

    assert response.status_code == HTTPStatus.OK
    assert message in " ".join(response.context["form"].errors[field])
    assert not RequestDraft.objects.exists()


def test_a_data_deletion_shows_no_scope_table(owner_client, organization, project, jane):
    response = owner_client.post(deletion_url(organization), form(project), follow=True)

    assert response.context["scope_rows"] == []
    assert RequestDraft.objects.get().disclosure == "Data"


def test_the_request_page_names_what_a_partial_deletion_removes(
    owner_client, organization, project, jane
):
    owner_client.post(
        deletion_url(organization),
        form(project, disclosure="Categories", categories=["contact", "location"]),
    )
    response = owner_client.post(
        preview_url(RequestDraft.objects.get()), {"confirm": "on"}, follow=True
    )

    page = response.content.decode()
    assert "CCPA deletion (Categories)" in page
    assert '<span id="deletion-scope">(only contact, location)</span>' in page
