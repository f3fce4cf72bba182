"""A `where` expression over one profile's properties, in Python. This is the reference for what
an expression means; `postgresql.py` says the same in SQL, and the tests hold the two equal.

- A property is undefined when the profile lacks it or holds JSON null.
- Numbers compare exactly, as PostgreSQL's numeric does: a stored float counts as the decimal
  number it was written as (its shortest representation), never as its binary approximation.
- `==` is true only for two scalars of one type (string, number, boolean) that are equal;
  `!=` is its negation, so it is true of an undefined property.
- `<`, `>`, `<=`, `>=` compare two numbers, or two strings by code point; anything else is
  false.
- Truthiness (`boolean()`, `and`, `or`, `not`, and the whole expression): undefined, false, 0,
  "", "false", [] and {} are false; every other value is true. "false" is false because
  Mixpanel's documentation casts string properties holding "true" and "false" this way.
"""

import math
from decimal import Decimal
from typing import Any

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

Value = None | bool | Decimal | str | list[Any] | dict[str, Any]

_FALSE_STRINGS = ("", "false")


def profile_matches(node: Node, properties: dict[str, Any]) -> bool:
    return _truthy(_value(node, properties))


def json_value(raw: Any) -> Value:
    """A stored JSON value as the expression sees it."""
    if raw is None or isinstance(raw, bool | str | list | dict):
        return raw
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        # SQLite's JSON may hold what PostgreSQL cannot: such a value matches nothing.
        return Decimal(repr(raw)) if math.isfinite(raw) else None
    return None


def _value(node: Node, properties: dict[str, Any]) -> Value:
    if isinstance(node, Property):
        return json_value(properties.get(node.name))
    if isinstance(node, Literal):
        return node.value
    return _condition(node, properties)


def _condition(node: Node, properties: dict[str, Any]) -> bool:
    if isinstance(node, Comparison):
        return compare(node.operator, _value(node.left, properties), _value(node.right, properties))
    if isinstance(node, AllOf):
        return all(_truthy(_value(operand, properties)) for operand in node.operands)
    if isinstance(node, AnyOf):
        return any(_truthy(_value(operand, properties)) for operand in node.operands)
    if isinstance(node, Not):
        return not _truthy(_value(node.operand, properties))
    if isinstance(node, Defined):
        return _value(node.operand, properties) is not None
    if isinstance(node, ToBoolean):
        return _truthy(_value(node.operand, properties))
    return _truthy(_value(node, properties))


def compare(operator: str, left: Value, right: Value) -> bool:
    if operator == "==":
        return _equal(left, right)
    if operator == "!=":
        return not _equal(left, right)
    if isinstance(left, Decimal) and isinstance(right, Decimal):
        pair: tuple[Decimal, Decimal] | tuple[str, str] = (left, right)
    elif isinstance(left, str) and isinstance(right, str):
        pair = (left, right)
    else:
        return False
    if operator == "<":
        return pair[0] < pair[1]  # type: ignore[operator]
    if operator == ">":
        return pair[0] > pair[1]  # type: ignore[operator]
    if operator == "<=":
        return pair[0] <= pair[1]  # type: ignore[operator]
    return pair[0] >= pair[1]  # type: ignore[operator]


def _equal(left: Value, right: Value) -> bool:
    return type(left) is type(right) and isinstance(left, bool | Decimal | str) and left == right


def _truthy(value: Value) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return value != 0
    if isinstance(value, str):
        return value not in _FALSE_STRINGS
    return len(value) > 0
