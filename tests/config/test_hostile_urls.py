"""Hostile bytes in every URL of the project (issue 15, finding 4): no path part or query value
answers 5xx, signed out or signed in as an owner, with GET or POST.

The walk takes every pattern of the URLconf (django.urls.get_resolver), fills one parameter at a
time with a hostile value and the others with real ones (so the hostile part reaches the view
behind the real organization, project or request), then all of them at once; and sends the
hostile value in the query parameters and form fields the views read. Values arrive as a client
sends them: percent-encoded in the path and the query, so a lone surrogate is the invalid UTF-8
of %ED%A0%80. A NUL matters most on PostgreSQL, which refuses it even in a lookup: run this
file in PostgreSQL mode too. Hostile session cookies are tried at the end.
"""

import re
from collections.abc import Iterator
from http import HTTPStatus
from urllib.parse import quote

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from accounts.actors import Actor
from accounts.invitations import invitation_create
from accounts.models import Membership, Role
from privacy_requests.models import RequestKind
from privacy_requests.services import privacy_request_submit
from privacy_requests.services.drafts import request_draft_create
from tests.admin_support import TOTP_SECRET, sign_in_with_mfa, staff_user
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

HOSTILE = {
    "nul": "%00",
    "nul_inside": "a%00b",
    "lone_surrogate": "%ED%A0%80",
    "over_long": "x" * 10_000,
    "non_ascii": quote("Zoë-日本-🙂", safe=""),
    # Digits that str.isdigit() accepts and int() refuses, and a number past any database id.
    "unicode_digits": quote("²³", safe=""),
    "huge_number": "9" * 40,
}
# What the views read from the query string and from forms (grep request.GET, request.POST,
# query_params and the forms' field names); each gets the hostile value too.
QUERY_AND_FORM_NAMES = [
    "t", "page", "project", "status", "kind", "token", "project_id", "cursor", "next", "data",
    "verbose", "ip", "strict", "distinct_id", "compliance", "disclosure", "ids_from", "confirm",
    "enabled", "role", "email", "name", "login", "password", "q", "o", "p",
]  # fmt: skip
# Walked apart: their flags and `data` field are read from the query and the form.
INGESTION_VIEWS = "projects.ingestion."
ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?:[^()\\]|\\.|\([^()]*\))*\)\??")


def _templates(patterns, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(path template, view) for each pattern of the URLconf; parameters written `<name>`."""
    for pattern in patterns:
        piece = _template(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _templates(pattern.url_patterns, prefix + piece)
        else:
            assert isinstance(pattern, URLPattern)
            yield prefix + piece, pattern.lookup_str


def _template(pattern) -> str:
    text = str(pattern)
    if isinstance(pattern, RoutePattern):
        return ROUTE_PARAMETER.sub(lambda match: f"<{match['name']}>", text)
    assert isinstance(pattern, RegexPattern), pattern
    text = REGEX_GROUP.sub(lambda match: f"<{match['name']}>", text)
    return text.removeprefix("^").removesuffix("$").replace("/?", "/").replace("\\", "")


def _is_ingestion(view: str) -> bool:
    return view.startswith(INGESTION_VIEWS)


def every_path_template(*, ingestion: bool) -> list[str]:
    """The project's URL patterns, either the ingestion endpoints or all the others."""
    return sorted(
        {
            template
            for template, view in _templates(get_resolver().url_patterns)
            if _is_ingestion(view) == ingestion
        }
    )


@pytest.fixture
def world():
    owner_membership = MembershipFactory(role=Role.OWNER)
    owner, organization = owner_membership.user, owner_membership.organization
    project = ProjectFactory(organization=organization)
    actor = Actor(user=owner, via="web")
    privacy_request = privacy_request_submit(
        project=project,
        actor=actor,
        channel="web",
        kind=RequestKind.EXPORT,
        compliance="GDPR",
        disclosure=None,
        distinct_ids=["alice"],
    )
    draft = request_draft_create(
        actor=actor, project=project, kind="deletion", compliance="GDPR", distinct_ids=["bob"]
    )
    invitation, invitation_token = invitation_create(
        actor=actor, organization=organization, email="invited@example.com", role="admin"
    )
    return {
        "owner": owner,
        "values": {
            "organization_id": str(organization.id),
            "project_id": str(project.id),
            "membership_id": str(Membership.objects.get(user=owner).id),
            "tracking_id": privacy_request.tracking_id,
            "task_id": privacy_request.tracking_id,
            "draft_id": str(draft.id),
            "invitation_id": str(invitation.id),
            "token": invitation_token,
            "object_id": "1",
            "content_type_id": "1",
        },
    }


def _fill(template: str, values: dict[str, str], hostile: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match["name"]
        return hostile.get(name) or values.get(name) or "1"

    return "/" + ROUTE_PARAMETER.sub(value, template)


def _form(value: str) -> str:
    return "&".join(f"{name}={value}" for name in QUERY_AND_FORM_NAMES)


def hostile_requests(template: str, values: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(path, hostile value) to try for one template: each parameter hostile alone, then all
    of them, then the query string hostile on the real path."""
    names = [match["name"] for match in ROUTE_PARAMETER.finditer(template)]
    for value in HOSTILE.values():
        for name in names:
            yield _fill(template, values, {name: value}), value
        if len(names) > 1:
            yield _fill(template, values, dict.fromkeys(names, value)), value
        yield _fill(template, values, {}) + "?" + _form(value), value


def walk(client: Client, templates: list[str], values: dict[str, str], *, sign_in) -> list[str]:
    """Sends every hostile request of the templates with GET and POST; the ones that answered
    5xx. `sign_in` (or None) signs the client in again when a POST (the logout page) signed it
    out."""
    failures = []
    tried = 0
    for template in templates:
        for path, value in hostile_requests(template, values):
            for method in ("GET", "POST"):
                # The POST carries the hostile value in every form field the views read too.
                body = _form(value) if method == "POST" else ""
                session = client.cookies.get(settings.SESSION_COOKIE_NAME)
                response = client.generic(
                    method, path, body, content_type="application/x-www-form-urlencoded"
                )
                tried += 1
                if sign_in and client.cookies.get(settings.SESSION_COOKIE_NAME) != session:
                    sign_in()
                if response.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
                    failures.append(f"{method} {path[:120]} → {response.status_code}")
    assert tried >= 2 * len(templates) * len(HOSTILE)  # the walk did walk
    return failures


@pytest.mark.parametrize("signed_in", [False, True], ids=["signed_out", "owner"])
def test_no_url_answers_5xx_to_hostile_path_parts_or_parameters(world, signed_in):
    client = Client(raise_request_exception=False)
    sign_in = None
    if signed_in:

        def sign_in():
            client.force_login(world["owner"])

        sign_in()
    templates = every_path_template(ingestion=False)
    for expected in (
        "downloads/<tracking_id>/<signature>/",
        "orgs/<organization_id>/privacy/<tracking_id>/",
        "orgs/<organization_id>/privacy/<tracking_id>/status/",
        "orgs/<organization_id>/privacy/<tracking_id>/cancel/",
        "orgs/<organization_id>/privacy/deletion/<draft_id>/",
        "api/app/data-retrievals/v3.0/<task_id>/",
        "accounts/confirm-email/<key>/",
        "invitations/<token>/",
        "orgs/<organization_id>/invitations/<invitation_id>/revoke/",
    ):
        assert expected in templates
    if signed_in:
        # The back office stops an owner (not staff) at the same gate as a stranger: its
        # patterns, three quarters of the walk, are walked signed out only.
        templates = [template for template in templates if not template.startswith("admin/")]
    failures = walk(client, templates, world["values"], sign_in=sign_in)
    assert not failures, "\n".join(failures)
    # The owner's walk reached the pages behind the sign-in: still signed in at the end.
    values = world["values"]
    page = client.get(f"/orgs/{values['organization_id']}/privacy/{values['tracking_id']}/")
    assert page.status_code == (HTTPStatus.OK if signed_in else HTTPStatus.FOUND)


def test_no_back_office_url_answers_5xx_to_hostile_values_as_staff(world):
    client = Client(raise_request_exception=False)
    operator = staff_user()

    def sign_in():
        # A POST of the walk may have deleted the operator's authenticator: give them one again.
        if not Authenticator.objects.filter(user=operator, type=Authenticator.Type.TOTP).exists():
            TOTP.activate(operator, TOTP_SECRET)
        sign_in_with_mfa(client, operator)

    sign_in()
    templates = [
        template
        for template in every_path_template(ingestion=False)
        if template.startswith("admin/")
    ]
    assert "admin/r/<content_type_id>/<object_id>/" in templates
    failures = walk(client, templates, world["values"], sign_in=sign_in)
    assert not failures, "\n".join(failures)
    # The walk ran signed in to its end (a POST may have deleted the authenticator it used).
    assert client.session.get("_auth_user_id") == str(operator.pk)


def test_ingestion_endpoints_answer_hostile_parameters_without_5xx(world):
    templates = every_path_template(ingestion=True)
    assert {"track/", "engage/", "groups/", "import/"} <= set(templates)
    failures = walk(Client(raise_request_exception=False), templates, world["values"], sign_in=None)
    assert not failures, "\n".join(failures)


def test_the_walk_fills_route_and_regex_parameters():
    templates = every_path_template(ingestion=False)
    assert "api/app/data-deletions/v3.0/<task_id>/" in templates
    assert "orgs/<organization_id>/privacy/deletion/<draft_id>/" in templates
    # Each hostile value lands in the path exactly as a client sends it.
    values = {"tracking_id": "T", "signature": "S"}
    paths = [path for path, _ in hostile_requests("downloads/<tracking_id>/<signature>/", values)]
    assert "/downloads/%00/S/" in paths
    assert "/downloads/T/%ED%A0%80/" in paths
    assert "/downloads/%00/%00/" in paths
    assert "/downloads/T/S/?t=%00&page=%00" in [path[:30] for path in paths]


@pytest.mark.parametrize("tracking_id", ["%00", "a%00b", "x" * 65])
@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("GET", "/orgs/{org}/privacy/{id}/", "text/html; charset=utf-8"),
        ("GET", "/orgs/{org}/privacy/{id}/status/", "application/json"),
        ("GET", "/orgs/{org}/privacy/{id}/cancel/", "text/html; charset=utf-8"),
        ("POST", "/orgs/{org}/privacy/{id}/cancel/", "text/html; charset=utf-8"),
        ("POST", "/orgs/{org}/privacy/{id}/retry/", "text/html; charset=utf-8"),
        ("GET", "/downloads/{id}/x/", "text/html; charset=utf-8"),
    ],
)
def test_a_tracking_id_no_request_can_have_names_no_request(
    world, method, path, content_type, tracking_id
):
    client = Client(raise_request_exception=False)
    client.force_login(world["owner"])
    url = path.format(org=world["values"]["organization_id"], id=tracking_id)
    response = client.generic(method, url)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response["Content-Type"] == content_type


def test_the_status_poll_skips_tracking_ids_no_request_can_have(world):
    client = Client()
    client.force_login(world["owner"])
    values = world["values"]
    response = client.get(
        f"/orgs/{values['organization_id']}/privacy/status/?t=%00&t=a%00b&t={values['tracking_id']}"
    )
    assert response.status_code == HTTPStatus.OK
    assert [row["tracking_id"] for row in response.json()["requests"]] == [values["tracking_id"]]


@pytest.mark.parametrize(
    "cookie",
    [
        'sessionid="\\000\\000\\000\\000\\000\\000\\000\\000"',  # octal escapes, unquoted by Django
        "sessionid=abcd\x00efghijkl",
        "sessionid=" + "a" * 10_000,
        'sessionid="\\355\\240\\200abcdefgh"',
        "sessionid=ÀÉÎÕÜabcdefgh",
    ],
    ids=["nul-escaped", "nul", "over-long", "surrogate-bytes", "non-ascii"],
)
def test_a_hostile_session_cookie_is_no_session(world, cookie):
    client = Client(raise_request_exception=False)
    values = world["values"]

    home = client.get("/", HTTP_COOKIE=cookie)
    page = client.get(f"/orgs/{values['organization_id']}/privacy/", HTTP_COOKIE=cookie)

    assert home.status_code == HTTPStatus.OK
    assert page.status_code == HTTPStatus.FOUND  # to the sign-in page: no session
    assert page["Location"].startswith("/accounts/login/")
