"""A `where` expression as one SQL condition over a jsonb column, so that PostgreSQL selects the
profiles itself (no row leaves the database unless it matches). It means exactly what
`evaluation.py` says; the tests compare the two on generated profiles and expressions.

Each node becomes either a jsonb value (SQL NULL when undefined) or a boolean condition that is
never NULL. Every value is a bound parameter. The text grows linearly with the tree: a
sub-expression is repeated only when it is a leaf (a property or a literal), never a subtree,
so a deeply nested expression cannot blow the statement up.
"""

import json
from decimal import Decimal
from typing import TypeGuard

from projects.engage_query.expression import (
    AllOf,
    AnyOf,
    Comparison,
    Defined,
    Literal,
    Node,
    Not,
    Property,
    Scalar,
    ToBoolean,
)

Sql = tuple[str, list[object]]

# The parser's ordering operators, which are also PostgreSQL's: only these reach the SQL text.
_ORDERINGS = {"<": "<", ">": ">", "<=": "<=", ">=": ">="}
_SCALAR_TYPES = "('string', 'number', 'boolean')"
# Every falsy jsonb value (evaluation.py); jsonb compares numbers as numeric, so '0' is also
# 0.0 and -0.
_FALSY = "('false'::jsonb, '0'::jsonb, '\"\"'::jsonb, '\"false\"'::jsonb, '[]'::jsonb, '{}'::jsonb)"


def containment_hints(node: Node) -> list[dict[str, str]]:
    """`{name: text}` for each `properties["name"] == "text"` the whole condition requires (the
    condition itself, or an operand of a top-level `and`). Each is implied by the condition,
    so adding `properties @> hint` selects exactly the same profiles, and lets the GIN
    jsonb_path_ops index on profile properties find them instead of a scan of every profile
    (a lookup by `$email` over a million profiles: a few milliseconds)."""
    operands = node.operands if isinstance(node, AllOf) else (node,)
    hints = []
    for operand in operands:
        if not isinstance(operand, Comparison) or operand.operator != "==":
            continue
        for left, right in ((operand.left, operand.right), (operand.right, operand.left)):
            if (
                isinstance(left, Property)
                and isinstance(right, Literal)
                and isinstance(right.value, str)
            ):
                hints.append({left.name: right.value})
                break
    return hints


def condition_sql(node: Node, *, column: str) -> Sql:
    """`column` is the quoted name of the jsonb column holding the properties."""
    return _Compiler(column).condition(node)


class _Compiler:
    def __init__(self, column: str) -> None:
        self.column = column

    def value(self, node: Node) -> Sql:
        if isinstance(node, Property):
            return f"NULLIF({self.column} -> %s::text, 'null'::jsonb)", [node.name]
        if isinstance(node, Literal):
            return "%s::jsonb", [_json(node.value)]
        sql, params = self.condition(node)
        return f"to_jsonb({sql})", params

    def condition(self, node: Node) -> Sql:
        if isinstance(node, Comparison):
            return self._comparison(node)
        if isinstance(node, AllOf | AnyOf):
            parts = [self.condition(operand) for operand in node.operands]
            joiner = " AND " if isinstance(node, AllOf) else " OR "
            return (
                "(" + joiner.join(sql for sql, _ in parts) + ")",
                [param for _, params in parts for param in params],
            )
        if isinstance(node, Not):
            sql, params = self.condition(node.operand)
            return f"(NOT {sql})", params
        if isinstance(node, Defined):
            sql, params = self.value(node.operand)
            return f"({sql} IS NOT NULL)", params
        operand = node.operand if isinstance(node, ToBoolean) else node
        if not isinstance(operand, Property | Literal):
            return self.condition(operand)  # already a boolean
        sql, params = self.value(operand)
        return f"COALESCE({sql} NOT IN {_FALSY}, false)", params

    def _comparison(self, node: Comparison) -> Sql:
        left, right = node.left, node.right
        if node.operator in ("==", "!=") and _is_boolean(left):
            left, right = right, left  # symmetric
        if node.operator in ("==", "!=") and _is_condition(left) and _is_boolean(right):
            # `boolean(x) == true`, as deduplicate_people sends it: the condition itself.
            sql, params = self.condition(left)
            if (node.operator == "==") == right.value:
                return sql, params
            return f"(NOT {sql})", params
        if node.operator in ("==", "!="):
            left_sql, left_params = self.value(left)
            right_sql, right_params = self.value(right)
            sql = f"{left_sql} = {right_sql}"
            params = left_params + right_params
            if isinstance(left, Property) and isinstance(right, Property):
                # Only properties can hold lists and objects, which equal nothing.
                sql += f" AND jsonb_typeof({left_sql}) IN {_SCALAR_TYPES}"
                params += left_params
            if node.operator == "==":
                return f"COALESCE({sql}, false)", params
            return f"(NOT COALESCE({sql}, false))", params
        if not _orderable(left) or not _orderable(right):
            return "false", []
        return self._ordering(node.operator, left, right)

    def _ordering(self, operator: str, left: Node, right: Node) -> Sql:
        # CASE guards the casts: a string is never cast to numeric.
        left_sql, left_params = self.value(left)
        right_sql, right_params = self.value(right)
        pair = left_params + right_params

        def both(kind: str) -> str:
            return f"jsonb_typeof({left_sql}) = '{kind}' AND jsonb_typeof({right_sql}) = '{kind}'"

        operator = _ORDERINGS[operator]
        numbers = f"({left_sql})::numeric {operator} ({right_sql})::numeric"
        # Code-point order, as Python compares strings, whatever the database's collation.
        left_text = f"({left_sql} #>> '{{}}') COLLATE \"C\""
        right_text = f"({right_sql} #>> '{{}}') COLLATE \"C\""
        strings = f"{left_text} {operator} {right_text}"
        sql = (
            f"COALESCE(CASE WHEN {both('number')} THEN {numbers} "
            f"WHEN {both('string')} THEN {strings} ELSE false END, false)"
        )
        return sql, pair * 4


def _is_condition(node: Node) -> bool:
    return not isinstance(node, Property | Literal)


def _is_boolean(node: Node) -> TypeGuard[Literal]:
    return isinstance(node, Literal) and isinstance(node.value, bool)


def _orderable(node: Node) -> bool:
    """A property, a number or a string; conditions and booleans never compare as ordered."""
    if isinstance(node, Property):
        return True
    return isinstance(node, Literal) and not isinstance(node.value, bool)


def _json(value: Scalar) -> str:
    if isinstance(value, Decimal):
        return str(value)  # the grammar admits only finite numbers; str() of one is JSON
    return json.dumps(value)
