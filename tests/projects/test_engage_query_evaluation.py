"""What a `where` selects: the semantics, on the same profiles in Python and (on PostgreSQL) in
SQL, and the two held equal on generated profiles and expressions."""

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projects.engage_query.expression import MAX_DEPTH, MAX_LENGTH, expression_parse
from projects.engage_query.parameters import engage_query_parse
from projects.engage_query.postgresql import condition_sql
from projects.engage_query.selectors import profile_page_select
from projects.models import Profile
from tests.factories import ProfileFactory
from tests.projects.engage_query_support import expression_text, expressions, profile_properties

ON_POSTGRESQL = connection.vendor == "postgresql"
STRATEGIES = ["python", "database"] if ON_POSTGRESQL else ["python"]

PROFILES = {
    "string-x": {"a": "x"},
    "string-upper-x": {"a": "X"},
    "string-empty": {"a": ""},
    "string-false": {"a": "false"},
    "string-zero": {"a": "0"},
    "int-1": {"a": 1},
    "float-1": {"a": 1.0},
    "float-2.5": {"a": 2.5},
    "int-0": {"a": 0},
    "true": {"a": True},
    "false": {"a": False},
    "null": {"a": None},
    "list": {"a": ["x"]},
    "empty-list": {"a": []},
    "object": {"a": {"k": 1}},
    "empty-object": {"a": {}},
    "missing": {"b": "x"},
}


def selected(project, where: str, strategy: str) -> list[str]:
    query = engage_query_parse({"where": where})
    page = profile_page_select(project=project, query=query, strategy=strategy)
    assert page.total == len(page.results)
    return sorted(result["$distinct_id"] for result in page.results)


@pytest.fixture
def profiles(project):
    for distinct_id, properties in PROFILES.items():
        ProfileFactory(project=project, distinct_id=distinct_id, properties=properties)
    return project


TRUTHY = ["float-1", "float-2.5", "int-1", "list", "object", "string-upper-x", "string-x"]
TRUTHY += ["string-zero", "true"]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # == compares scalars of one type; numbers by value, strings exactly.
        ('properties["a"] == "x"', ["string-x"]),
        ('user["a"] == "x"', ["string-x"]),
        ('"x" == properties["a"]', ["string-x"]),
        ('properties["a"] == 1', ["float-1", "int-1"]),
        ('properties["a"] == 1.0e0', ["float-1", "int-1"]),
        ('properties["a"] == true', ["true"]),
        ('properties["a"] == false', ["false"]),
        ('properties["a"] == 0', ["int-0"]),
        ('properties["a"] == "0"', ["string-zero"]),
        (
            'properties["a"] == properties["a"]',
            ["float-1", "float-2.5", "false", "int-0", "int-1"]
            + ["string-empty", "string-false", "string-upper-x", "string-x", "string-zero", "true"],
        ),
        # != is the negation of ==: undefined, null, lists and objects differ from "x".
        (
            'properties["a"] != "x"',
            sorted(set(PROFILES) - {"string-x"}),
        ),
        # Orderings compare two numbers, or two strings by code point; nothing else.
        ('properties["a"] > 1', ["float-2.5"]),
        ('properties["a"] >= 1', ["float-1", "float-2.5", "int-1"]),
        ('properties["a"] < 1', ["int-0"]),
        ('properties["a"] <= 0', ["int-0"]),
        ('properties["a"] < "a"', ["string-empty", "string-upper-x", "string-zero"]),
        ('properties["a"] > "false"', ["string-x"]),
        ('properties["a"] >= "x"', ["string-x"]),
        ('properties["a"] > true', []),
        ('properties["a"] < -1e300', []),
        # defined: present and not null.
        (
            'defined(properties["a"])',
            sorted(set(PROFILES) - {"missing", "null"}),
        ),
        ('not defined(properties["a"])', ["missing", "null"]),
        ('defined(properties["b"])', ["missing"]),
        # Truthiness: undefined, false, 0, "", "false", [] and {} are false.
        ('boolean(properties["a"])', sorted(TRUTHY)),
        ('boolean(properties["a"]) == true', sorted(TRUTHY)),
        ('properties["a"]', sorted(TRUTHY)),
        ('boolean(properties["a"]) == false', sorted(set(PROFILES) - set(TRUTHY))),
        ('not properties["a"]', sorted(set(PROFILES) - set(TRUTHY))),
        # Logic.
        ('properties["a"] == "x" or properties["a"] == 1', ["float-1", "int-1", "string-x"]),
        ('properties["a"] >= 1 and properties["a"] < 2', ["float-1", "int-1"]),
        ('not (properties["a"] == "x" or defined(properties["a"]))', ["missing", "null"]),
        ('defined(properties["b"]) and properties["b"] == "x"', ["missing"]),
        ("true", sorted(PROFILES)),
        ("false", []),
        ('"text"', sorted(PROFILES)),
        ('""', []),
        # A comparison's value is a boolean: it equals true or false, and orders as nothing.
        ('(properties["a"] == "x") == true', ["string-x"]),
        ('(properties["a"] == "x") > 0', []),
    ],
)
def test_where_selects(profiles, strategy, where, expected):
    assert selected(profiles, where, strategy) == sorted(expected)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strings_order_by_code_point(project, strategy):
    for distinct_id, value in [("upper", "Z"), ("lower", "a"), ("accent", "é"), ("emoji", "😀")]:
        ProfileFactory(project=project, distinct_id=distinct_id, properties={"s": value})
    assert selected(project, 'properties["s"] < "a"', strategy) == ["upper"]
    assert selected(project, 'properties["s"] > "z"', strategy) == ["accent", "emoji"]
    assert selected(project, 'properties["s"] > "\\uffff"', strategy) == ["emoji"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_numbers_compare_exactly(project, strategy):
    ProfileFactory(project=project, distinct_id="tenth", properties={"n": 0.1})
    ProfileFactory(project=project, distinct_id="big", properties={"n": 10**20 + 1})
    assert selected(project, 'properties["n"] == 0.1', strategy) == ["tenth"]
    assert selected(project, 'properties["n"] > 0.1', strategy) == ["big"]
    assert selected(project, 'properties["n"] > 100000000000000000000', strategy) == ["big"]
    assert selected(project, 'properties["n"] == 1e20', strategy) == []


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the SQL condition is PostgreSQL's")
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    properties=st.lists(profile_properties(), min_size=1, max_size=12),
    tree=expressions(),
)
def test_postgresql_selects_what_python_selects(project, properties, tree):
    Profile.objects.filter(project=project).delete()
    Profile.objects.bulk_create(
        ProfileFactory.build(project=project, distinct_id=f"p{index}", properties=values)
        for index, values in enumerate(properties)
    )
    where = expression_text(tree)
    assert selected(project, where, "database") == selected(project, where, "python"), where


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_largest_expressions_run(profiles, strategy):
    # Nested to the limit: each level adds a bounded piece of SQL, never a copy of its subtree.
    deep = "not " * MAX_DEPTH + 'properties["a"] >= 2'
    assert len(condition_sql(expression_parse(deep), column="p")[0]) < 500 + 10 * MAX_DEPTH
    assert selected(profiles, deep, strategy) == ["float-2.5"]
    cast = "boolean(" * MAX_DEPTH + 'properties["a"]' + ")" * MAX_DEPTH
    assert len(condition_sql(expression_parse(cast), column="p")[0]) < 500
    assert selected(profiles, cast, strategy) == sorted(TRUTHY)
    # As many alternatives as the length allows.
    emails = " or ".join(f'properties["a"] == "{index:05}"' for index in range(300))
    assert len(emails) <= MAX_LENGTH
    assert selected(profiles, emails + ' or properties["a"] == "x"', strategy) == ["string-x"]
