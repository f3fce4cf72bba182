"""Helpers shared by the engage query's tests: generated expressions and profiles, the printer
that turns a tree back into `where` text, and the call as clients make it."""

import base64
import json
from decimal import Decimal
from typing import Any

from django.test import Client
from hypothesis import strategies as st

from projects.engage_query.expression import (
    AllOf,
    AnyOf,
    Comparison,
    Defined,
    Literal,
    Node,
    Not,
    Property,
    ToBoolean,
)

ENGAGE = "/api/2.0/engage"
# The API secret of every ProjectFactory project (tests/factories.py).
API_SECRET = "factory-secret"
PROPERTY_NAMES = ["a", "b", "$email", "n"]


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def engage_query(
    client: Client, project, *, method: str = "get", secret: str = API_SECRET, **params: Any
):
    """One call as mixpanel-utils makes it: Basic `secret:` and the parameters, lists as JSON."""
    values = {
        name: json.dumps(value) if isinstance(value, list) else value
        for name, value in params.items()
    }
    values.setdefault("project_id", project.pk)
    call = client.get if method == "get" else client.post
    return call(ENGAGE, values, headers={"authorization": basic(secret)})


# Text without NUL or surrogates: what a stored string or a property name can be.
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6
)
_strings = st.one_of(st.sampled_from(["", "false", "true", "0", "x", "X", "é", "😀", "10"]), _text)
_numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    st.sampled_from([0, 0.0, -0.0, 1, 1.0, 0.1, 10, 1e-7]),
)


def _decimal(number: int | float) -> Decimal:
    return Decimal(number) if isinstance(number, int) else Decimal(repr(number))


_property_names = st.one_of(st.sampled_from(PROPERTY_NAMES), _text)
_leaves = st.one_of(
    _property_names.map(Property),
    _strings.map(Literal),
    # The parser refuses number literals beyond 1e±300.
    _numbers.map(_decimal).filter(lambda d: not d or abs(d.adjusted()) <= 300).map(Literal),
    st.booleans().map(Literal),
)


def _extend(children):
    operands = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(
        st.builds(
            Comparison, st.sampled_from(["==", "!=", "<", ">", "<=", ">="]), children, children
        ),
        operands.map(AllOf),
        operands.map(AnyOf),
        children.map(Not),
        children.map(Defined),
        children.map(ToBoolean),
    )


def expressions():
    """Expression trees of every construct, small enough for the parser's bounds."""
    return st.recursive(_leaves, _extend, max_leaves=12)


def expression_text(node: Node) -> str:
    """The `where` text of a tree, every compound operand in parentheses."""
    if isinstance(node, Property):
        return f"properties[{json.dumps(node.name)}]"
    if isinstance(node, Literal):
        if isinstance(node.value, bool):
            return "true" if node.value else "false"
        if isinstance(node.value, Decimal):
            return str(node.value)
        return json.dumps(node.value)
    if isinstance(node, Comparison):
        left, right = expression_text(node.left), expression_text(node.right)
        return f"({left} {node.operator} {right})"
    if isinstance(node, AllOf | AnyOf):
        joiner = " and " if isinstance(node, AllOf) else " or "
        return "(" + joiner.join(expression_text(operand) for operand in node.operands) + ")"
    if isinstance(node, Not):
        return f"(not {expression_text(node.operand)})"
    if isinstance(node, Defined):
        return f"defined({expression_text(node.operand)})"
    return f"boolean({expression_text(node.operand)})"


_json_scalars = st.one_of(st.none(), st.booleans(), _numbers, _strings)
_json_values = st.one_of(
    _json_scalars,
    st.lists(_json_scalars, max_size=2),
    st.dictionaries(st.sampled_from(["k", "l"]), _json_scalars, max_size=2),
)


def profile_properties():
    """Profile properties as ingestion stores them: mostly the names expressions use."""
    return st.dictionaries(_property_names, _json_values, max_size=4)
