"""A fuzz pass over the GDPR API (issue 7): no input gives a 500 (DESIGN section 6).

Two generators, both through the Django test client against the test database:
- schemathesis, from the project's own OpenAPI schema (/api/schema/): positive and negative
  cases of every operation, with its schema conformance checks;
- hypothesis, for what a schema does not describe: odd Content-Types and body encodings,
  nested and huge JSON, unicode, duplicate ids, malformed tokens and paths, other methods.

Both swap in real credentials, project tokens and task ids often enough to reach the views.
Every answer must be under 500; every error under /api/ has the {"status": "error", "error":
...} shape; every 401 carries `WWW-Authenticate: Bearer`. Bounded by example counts to well
under a minute in CI.
"""

import base64
import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import quote, urlencode

import pytest
import requests
import schemathesis
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.actors import OPERATOR, Actor
from accounts.models import GdprToken, Role
from accounts.service_accounts import service_account_revoke
from accounts.services import gdpr_token_reset
from privacy_requests.models import PrivacyRequest, Status
from privacy_requests.selectors import privacy_request_reached_ids
from privacy_requests.services import privacy_request_submit
from projects.identity import LinkRequest, identity_links_apply
from projects.models import IdentityKind
from tests.factories import EventFactory, MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

RETRIEVALS = "/api/app/data-retrievals/v3.0/"
DELETIONS = "/api/app/data-deletions/v3.0/"
# Hop-by-hop and framing headers belong to the transport, not to what a client chooses.
TRANSPORT_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
FUZZ_SETTINGS = {
    "deadline": None,
    "database": None,  # no .hypothesis/ directory in the repository
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
}


REACHED: Counter[str] = Counter()  # "<method> <status>": what a fuzz run got to see


@dataclass(frozen=True)
class World:
    """Who and what the fuzzed requests may name."""

    project_token: str
    other_project_token: str
    tokens: dict[str, str]  # role → raw GDPR token ("expired" included)
    task_ids: dict[str, str]
    # "admin", "member", "revoked" → a service account's `Authorization: Basic` header
    service_accounts: dict[str, str]


@pytest.fixture
def world(project, django_capture_on_commit_callbacks, make_service_account) -> World:
    users = {
        role: MembershipFactory(organization=project.organization, role=role).user
        for role in (Role.OWNER, Role.ADMIN, Role.MEMBER)
    }
    other_project = ProjectFactory()
    users["stranger"] = MembershipFactory(
        organization=other_project.organization, role=Role.OWNER
    ).user
    users["expired"] = MembershipFactory(organization=project.organization, role=Role.OWNER).user
    tokens = {str(role): gdpr_token_reset(user=user) for role, user in users.items()}
    GdprToken.objects.filter(user=users["expired"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    EventFactory(project=project, distinct_id="alice")
    EventFactory(project=project, distinct_id="bob")
    # A linked id, so finished requests' statuses list more than the given ids in
    # reached_distinct_ids, which the schema checks then cover.
    identity_links_apply(
        project=project, links=[LinkRequest("alice@example.com", "alice", IdentityKind.ALIAS)]
    )

    def submit(kind, distinct_ids, *, target=project, user=users[Role.OWNER], run=False):
        with django_capture_on_commit_callbacks(execute=run):
            request = privacy_request_submit(
                project=target,
                actor=Actor(user=user, via="api"),
                channel="api",
                kind=kind,
                compliance="GDPR",
                distinct_ids=distinct_ids,
            )
        return request.tracking_id

    task_ids = {
        "retrieval_done": submit("export", ["alice"], run=True),
        "deletion_done": submit("deletion", ["bob"], run=True),
        "retrieval_pending": submit("export", ["carol"]),
        "deletion_pending": submit("deletion", ["dave"]),
        "retrieval_started": submit("export", ["erin"]),
        "other_project": submit("export", ["alice"], target=other_project, user=users["stranger"]),
    }
    PrivacyRequest.objects.filter(tracking_id=task_ids["retrieval_started"]).update(
        status=Status.STARTED
    )
    assert PrivacyRequest.objects.get(tracking_id=task_ids["retrieval_done"]).status == "SUCCESS"
    assert PrivacyRequest.objects.get(tracking_id=task_ids["deletion_done"]).status == "SUCCESS"
    done = PrivacyRequest.objects.get(tracking_id=task_ids["retrieval_done"])
    assert privacy_request_reached_ids(request=done) == ["alice", "alice@example.com"]
    service_accounts = {}
    for state in ("admin", "member", "revoked"):
        account, secret = make_service_account("member" if state == "member" else "admin")
        if state == "revoked":
            service_account_revoke(actor=OPERATOR, service_account=account)
        credentials = base64.b64encode(f"{account.username}:{secret}".encode()).decode()
        service_accounts[state] = f"Basic {credentials}"
    return World(
        project_token=project.token,
        other_project_token=other_project.token,
        tokens=tokens,
        task_ids=task_ids,
        service_accounts=service_accounts,
    )


@dataclass(frozen=True)
class Sent:
    method: str
    path: str  # with the query string
    body: bytes
    headers: dict[str, str]  # as the client sent them; Content-Type included when sent


def send(client: Client, sent: Sent):
    meta = {}
    for name, value in sent.headers.items():
        # WSGI hands header values over as latin-1; a client's UTF-8 bytes arrive that way.
        # Control characters never do: HTTP servers refuse them (RFC 9110 section 5.5; gunicorn
        # answers 400 itself), and Django's request constructor fails on a NUL in a charset.
        wire_value = CONTROL_CHARACTERS.sub(
            "", value.encode("utf-8", "surrogatepass").decode("latin-1")
        )
        if name.lower() == "content-type":
            meta["CONTENT_TYPE"] = wire_value
        else:
            meta["HTTP_" + name.upper().replace("-", "_")] = wire_value
    if sent.body and "CONTENT_TYPE" not in meta:
        meta["CONTENT_TYPE"] = ""  # none sent; not the test client's own default
    return client.generic(sent.method, sent.path, data=sent.body, **meta)


def assert_api_contract(sent: Sent, response) -> None:
    """What every answer of the API must satisfy, whatever was sent."""
    context = f"{sent.method} {sent.path!r} headers={sent.headers!r} body={sent.body[:300]!r}"
    REACHED[f"{sent.method} {response.status_code}"] += 1
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (
        f"{response.status_code} for {context}"
    )
    if response.status_code == HTTPStatus.UNAUTHORIZED:
        assert response["WWW-Authenticate"] == "Bearer", context
    if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
        assert response["Retry-After"].isdigit(), context
    if response.status_code < HTTPStatus.BAD_REQUEST or sent.method == "HEAD":
        return
    path = sent.path.split("?", 1)[0]
    if not (path.startswith("/api/app/") or path.rstrip("/") == "/api/requests"):
        return
    assert response["Content-Type"].startswith("application/json"), context
    body = json.loads(response.content)
    assert set(body) == {"status", "error"} and body["status"] == "error", (body, context)
    if response.status_code == HTTPStatus.CONFLICT:
        assert set(body["error"]) == {
            "error",
            "conflicting_distinct_ids",
            "conflicting_task_ids",
        }, (body, context)
        assert body["error"]["error"], context
    else:
        assert isinstance(body["error"], str) and body["error"], (body, context)


# schemathesis, from our own schema ---------------------------------------------------------

SCHEMA_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# How often a generated credential is swapped for a real one (None keeps the generated one).
AUTH_CHOICES = [
    "owner",
    "owner",
    "owner",
    "admin",
    "member",
    "stranger",
    "expired",
    "service-account",
    None,
    "",
]
PROJECT_CHOICES = ["project", "project", "project", "other", None]
TASK_CHOICES = [
    "retrieval_done",
    "deletion_done",
    "retrieval_pending",
    "deletion_pending",
    "retrieval_started",
    "other_project",
    None,
]


@pytest.fixture
def api_schema(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == HTTPStatus.OK
    return schemathesis.openapi.from_dict(json.loads(response.content))


def _as_sent(case, world: World, *, auth, project_choice, task_choice) -> tuple[Sent, object]:
    if isinstance(case.query, dict) and project_choice is not None:
        case.query["token"] = (
            world.project_token if project_choice == "project" else world.other_project_token
        )
    if isinstance(case.path_parameters, dict) and "task_id" in case.path_parameters:
        if task_choice is not None:
            case.path_parameters["task_id"] = world.task_ids[task_choice]
    if auth is not None:
        headers = dict(case.headers or {})
        headers.pop("Authorization", None)
        if auth == "service-account":
            headers["Authorization"] = world.service_accounts["admin"]
        elif auth:
            headers["Authorization"] = f"Bearer {world.tokens[auth]}"
        case.headers = headers
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    headers = {
        name: str(value)
        for name, value in (kwargs.get("headers") or {}).items()
        if name.lower() not in TRANSPORT_HEADERS
    }
    prepared = requests.Request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        data=kwargs.get("data"),
        files=kwargs.get("files"),
    ).prepare()
    if "json" in kwargs:
        # Our own serialization: requests refuses NaN and infinities, a client need not.
        prepared.body = json.dumps(kwargs["json"]).encode()
    elif kwargs.get("files"):
        headers["Content-Type"] = prepared.headers["Content-Type"]  # with its boundary
    body = prepared.body or b""
    body = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    prepared.headers.update(headers)
    return Sent(kwargs["method"], prepared.path_url, body, headers), prepared


def _schemathesis_response(response, prepared, elapsed: float) -> schemathesis.Response:
    return schemathesis.Response(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.items()},
        content=b"" if response.streaming else response.content,
        request=prepared,
        elapsed=elapsed,
        verify=True,
        message=HTTPStatus(response.status_code).phrase,
        encoding="utf-8",
    )


def test_schema_driven_cases_get_no_server_error_and_match_the_schema(client, world, api_schema):
    REACHED.clear()
    cases = st.one_of(
        api_schema.as_strategy(GenerationMode.POSITIVE),
        api_schema.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(max_examples=600, **FUZZ_SETTINGS)
    @given(
        case=cases,
        auth=st.sampled_from(AUTH_CHOICES),
        project_choice=st.sampled_from(PROJECT_CHOICES),
        task_choice=st.sampled_from(TASK_CHOICES),
    )
    def run(case, auth, project_choice, task_choice):
        sent, prepared = _as_sent(
            case, world, auth=auth, project_choice=project_choice, task_choice=task_choice
        )
        started = time.monotonic()
        response = send(client, sent)
        elapsed = time.monotonic() - started
        assert_api_contract(sent, response)
        case.validate_response(
            _schemathesis_response(response, prepared, elapsed), checks=SCHEMA_CHECKS
        )

    run()
    statuses = {int(reached.split()[1]) for reached in REACHED}
    assert {200, 400, 401, 403, 404} <= statuses, sorted(REACHED.items())


# hypothesis, beyond the schema -------------------------------------------------------------

ODD_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(10**40), max_value=10**40)
    | ODD_TEXT
)
NESTED_JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(ODD_TEXT, children, max_size=4)
    ),
    max_leaves=25,
)
ID_POOL = [
    "alice",
    "bob",
    "carol",
    "dave",
    "Alice",
    "ALICE",
    " alice",
    "alice ",
    "é",
    "𝒶",
    "$device:phone",
    "x" * 255,
    "x" * 256,
    "",
    "\x00",
    "null",
    "[]",
]
DISTINCT_IDS = st.one_of(
    st.lists(st.sampled_from(ID_POOL), max_size=12),  # duplicates and case variants
    st.lists(ODD_TEXT, max_size=6),
    st.lists(NESTED_JSON, max_size=4),
    st.just([f"user-{n}" for n in range(2001)]),
    st.just(["same"] * 2500),  # 2,500 items, one unique id
    NESTED_JSON,
)
ENUM_VALUES = st.one_of(
    st.sampled_from(
        ["GDPR", "gdpr", " Ccpa ", "CCPA", "Data", "data", "Categories", "SOURCES", "All", "", None]
    ),
    NESTED_JSON,
)
BODY_OBJECTS = st.builds(
    lambda known, unknown: {**unknown, **known},
    st.fixed_dictionaries(
        {},
        optional={
            "distinct_ids": DISTINCT_IDS,
            "compliance_type": ENUM_VALUES,
            "disclosure_type": ENUM_VALUES,
        },
    ),
    st.dictionaries(ODD_TEXT, NESTED_JSON, max_size=2),
)


def _duplicate_keys(document: dict) -> str:
    """The same key twice: json.loads keeps the last."""
    inner = json.dumps(document)[1:-1]
    first = json.dumps({"distinct_ids": ["shadowed"]})[1:-1]
    return "{" + first + (", " + inner if inner else "") + "}"


JSON_BODIES = st.one_of(
    BODY_OBJECTS.map(lambda document: json.dumps(document).encode()),
    BODY_OBJECTS.map(
        lambda document: json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
    ),
    BODY_OBJECTS.map(_duplicate_keys).map(str.encode),
    NESTED_JSON.map(lambda value: json.dumps(value).encode()),
)
OTHER_BODIES = st.one_of(
    BODY_OBJECTS.map(lambda document: json.dumps(document).encode("utf-16")),
    BODY_OBJECTS.map(lambda document: b"\xef\xbb\xbf" + json.dumps(document).encode()),
    st.integers(min_value=1, max_value=50_000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(min_value=1, max_value=50_000).map(
        lambda depth: b'{"distinct_ids":' + b"[" * depth
    ),
    st.just(b'{"distinct_ids": ["a"], "n": ' + b"9" * 5000 + b"}"),
    st.just(b'{"distinct_ids": ["\\ud800", "\\udfff"]}'),
    st.just(b"distinct_ids=alice&distinct_ids=bob&compliance_type=GDPR"),
    st.just(
        b'--xyz\r\nContent-Disposition: form-data; name="distinct_ids"\r\n\r\nalice\r\n--xyz--\r\n'
    ),
    st.binary(max_size=200),
    st.just(b""),
    st.just(b'{"distinct_ids": ["' + b"a" * (2 * 1024 * 1024) + b'"]}'),  # over 2 MiB
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data",
        "text/plain",
        "application/xml",
        "*/*",
        "",
        "garbage",
        "application/json; charset=\x00",
        "application/json;;;=",
        "text/html; charset=utf-16",
    ]
)
ODD_METHODS = st.sampled_from(["PUT", "PATCH", "OPTIONS", "HEAD", "TRACE", "PROPFIND"])


def usually(valid, odd):
    """Mostly `valid`, so that the other parts of a request get past the checks before them."""
    # Hypothesis favours the first of sampled values, and shrinks towards it.
    return st.sampled_from([True, True, True, False]).flatmap(lambda ok: valid if ok else odd)


@st.composite
def paths(draw, world: World) -> str:
    base = draw(st.sampled_from([RETRIEVALS, DELETIONS]))
    task_id = draw(
        usually(
            st.sampled_from(sorted(world.task_ids.values())),
            st.sampled_from(["", "..", ".", "%00", "%ff", "%ED%A0%80", "a%2Fb", "x" * 3000])
            | ODD_TEXT.filter(bool).map(lambda text: quote(text, safe="", errors="surrogatepass")),
        )
    )
    shape = draw(
        usually(
            st.sampled_from(["create", "create", "create-no-slash", "detail", "detail-no-slash"]),
            st.sampled_from(["double-slash", "deeper", "unknown", "list"]),
        )
    )
    return {
        "create": base,
        "create-no-slash": base.rstrip("/"),
        "detail": f"{base}{task_id}/",
        "detail-no-slash": f"{base}{task_id}",
        "double-slash": f"{base}/{task_id}",
        "deeper": f"{base}{task_id}/extra/",
        "unknown": f"/api/app/{task_id}",
        "list": "/api/requests/",
    }[shape]


@st.composite
def queries(draw, world: World) -> str:
    token = draw(
        usually(
            st.just(world.project_token),
            st.sampled_from([world.other_project_token, "", "\x00", "x" * 5000, "nope"]) | ODD_TEXT,
        )
    )
    pairs = [] if draw(st.integers(0, 9)) == 0 else [("token", token)]
    if draw(st.integers(0, 9)) == 0:
        pairs.insert(0, ("token", draw(ODD_TEXT)))  # repeated: the last one counts
    extra = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["project_id", "status", "cursor", "verbose", "format", "x"]),
                ODD_TEXT
                | st.sampled_from(
                    ["1", "9" * 40, "pending", "SUCCESS", "json", "cD1nYXJiYWdl", "\x00"]
                ),
            ),
            max_size=2,
        )
    )
    return urlencode(pairs + extra, errors="surrogatepass")


@st.composite
def request_headers(draw, world: World) -> dict[str, str]:
    valid = world.tokens[str(Role.OWNER)]
    authorization = draw(
        usually(
            st.sampled_from(
                [
                    f"Bearer {valid}",
                    f"bearer {valid}",
                    f"BEARER  {valid}",
                    f"Bearer {world.tokens[str(Role.ADMIN)]}",
                    world.service_accounts["admin"],
                ]
            ),
            st.sampled_from(
                [
                    f"Bearer {valid} extra",
                    f"Bearer {world.tokens[str(Role.MEMBER)]}",
                    f"Bearer {world.tokens['stranger']}",
                    f"Bearer {world.tokens['expired']}",
                    f"Basic {valid}",
                    world.service_accounts["member"],
                    world.service_accounts["revoked"],
                    world.service_accounts["admin"] + "x",
                    world.service_accounts["admin"][:-4],
                    f"Token {valid}",
                    "Bearer",
                    "Bearer ",
                    "",
                    "Bearer é",
                    f"Bearer {valid}\x00",
                    f"Bearer {valid[:-1]}",
                    None,
                ]
            )
            | ODD_TEXT.map(lambda text: f"Bearer {text}"),
        )
    )
    headers = {} if authorization is None else {"Authorization": authorization}
    if draw(st.booleans()):
        headers["Idempotency-Key"] = draw(
            st.sampled_from(["retry-1", "retry-1", "", " ", "k" * 256, "é"]) | ODD_TEXT
        )
    content_type = draw(
        usually(
            st.sampled_from(["application/json", "application/x-www-form-urlencoded", None]),
            CONTENT_TYPES,
        )
    )
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # the 2 MiB body
def test_raw_requests_get_no_server_error_and_the_error_shape(client, world):
    REACHED.clear()
    query = f"token={world.project_token}"
    owner = {"Authorization": f"Bearer {world.tokens[str(Role.OWNER)]}"}
    member = {"Authorization": f"Bearer {world.tokens[str(Role.MEMBER)]}"}
    created = b'{"distinct_ids": ["alice", "alice", "ALICE"], "compliance_type": "ccpa"}'
    conflicting = b'{"distinct_ids": ["zoe", "dave"]}'  # dave: an unfinished deletion

    @settings(max_examples=900, **FUZZ_SETTINGS)
    @given(
        method=usually(st.sampled_from(["POST", "POST", "GET", "DELETE"]), ODD_METHODS),
        path=paths(world),
        query=queries(world),
        headers=request_headers(world),
        body=usually(JSON_BODIES, OTHER_BODIES),
    )
    # Each status at least once, whatever the draw: a fuzz stuck at 401 would not show.
    @example(method="POST", path=RETRIEVALS, query=query, headers=owner, body=created)
    @example(method="POST", path=DELETIONS, query=query, headers=owner, body=conflicting)
    @example(method="POST", path=DELETIONS, query=query, headers=member, body=created)
    @example(
        method="GET",
        path=f"{RETRIEVALS}{world.task_ids['retrieval_done']}",
        query=query,
        headers=owner,
        body=b"",
    )
    def run(method, path, query, headers, body):
        sent = Sent(method, f"{path}?{query}" if query else path, body, headers)
        assert_api_contract(sent, send(client, sent))

    run()
    statuses = {int(reached.split()[1]) for reached in REACHED}
    assert {200, 201, 400, 401, 403, 404, 405, 409} <= statuses, sorted(REACHED.items())


# What the fuzz found once, kept as plain regression cases -----------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "error"),
    [
        # A lone surrogate escape decodes to a str that no database stores.
        (
            "POST",
            RETRIEVALS,
            b'{"distinct_ids": ["\\ud800"]}',
            {},
            400,
            "The request body must be text: it holds an unpaired surrogate escape "
            "(\\ud800 to \\udfff).",
        ),
        # json.loads raises RecursionError, not ValueError, on deep nesting.
        ("POST", RETRIEVALS, b"[" * 100_000, {}, 400, "The request body must be a JSON object."),
        # PostgreSQL refuses NUL in text, even as a lookup value.
        (
            "POST",
            RETRIEVALS,
            b'{"distinct_ids": ["a"]}',
            {"HTTP_IDEMPOTENCY_KEY": "a\x00b"},
            400,
            "Idempotency-Key must be 1 to 255 printable characters.",
        ),
        ("GET", RETRIEVALS + "%00/", b"", {}, 404, "NOT_FOUND"),
        ("GET", DELETIONS + "%00", b"", {}, 404, "NOT_FOUND"),
    ],
)
def test_inputs_the_fuzz_found_are_refused_cleanly(
    client, world, method, path, body, headers, status, error
):
    response = client.generic(
        method,
        f"{path}?token={world.project_token}",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.tokens[str(Role.OWNER)]}",
        **headers,
    )

    assert response.status_code == status
    assert response.json() == {"status": "error", "error": error}


def test_a_nul_in_the_project_token_is_404(client, world):
    response = client.post(
        f"{RETRIEVALS}?token=a%00b",
        data={"distinct_ids": ["a"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.tokens[str(Role.OWNER)]}",
    )

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {"status": "error", "error": "NOT_FOUND"}


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        (
            "status=%00",
            400,
            "status must be one of PENDING, STAGING, STARTED, SUCCESS, FAILURE, REVOKED.",
        ),
        ("project_id=%C2%B2", 400, "project_id must be a number."),  # "²".isdigit() is True
        # cursor=base64("p=garbage"): a well-encoded cursor whose position is no date.
        ("cursor=cD1nYXJiYWdl", 404, "Invalid cursor"),
        ("cursor=cj0xJnA9AA%3D%3D", 404, "Invalid cursor"),  # position "\x00"
    ],
)
def test_bad_list_parameters_are_refused_cleanly(client, world, query, status, error):
    response = client.get(
        f"/api/requests/?{query}", HTTP_AUTHORIZATION=f"Bearer {world.tokens[str(Role.OWNER)]}"
    )

    assert response.status_code == status
    assert response.json() == {"status": "error", "error": error}


def test_a_project_id_past_the_database_integers_lists_nothing(client, world):
    response = client.get(
        "/api/requests/?project_id=" + "9" * 40,
        HTTP_AUTHORIZATION=f"Bearer {world.tokens[str(Role.OWNER)]}",
    )

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"next": None, "previous": None, "results": []}
