"""Mixpanel's profile operations ($set, $set_once, $add, $append, $union, $remove, $unset,
$delete) as pure functions on a properties dict; shared by /engage and /groups.

A record's operations apply to a copy, all or nothing: a record that cannot apply (say `$add`
to a text property) leaves the profile as it was and is reported.
"""

import json
import math
from collections.abc import Sequence
from typing import Any

from projects.ingestion.truncation import properties_truncated
from projects.ingestion.validation import (
    Problem,
    field_problem,
    properties_problem,
    property_field,
)

SET = "$set"
SET_ONCE = "$set_once"
ADD = "$add"
APPEND = "$append"
UNION = "$union"
REMOVE = "$remove"
UNSET = "$unset"
DELETE = "$delete"

ENGAGE_OPERATIONS = (SET, SET_ONCE, ADD, APPEND, UNION, REMOVE, UNSET, DELETE)
GROUP_OPERATIONS = (SET, SET_ONCE, UNION, REMOVE, UNSET, DELETE)
# Operations that create a missing profile; the others have nothing to act on.
_CREATING = frozenset({SET, SET_ONCE, ADD, APPEND, UNION})
# Operations whose values are stored or matched against stored ones: their strings are cut to
# Mixpanel's 255 characters, so that a `$remove` finds what a `$set` stored.
_TRUNCATED = frozenset({SET, SET_ONCE, APPEND, UNION, REMOVE})

Operation = tuple[str, Any]


class OperationConflict(Exception):
    """The operation does not fit the profile's current value; `problem` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def operations_parse(record: dict, *, allowed: Sequence[str]) -> list[Operation] | Problem:
    """The record's operations in the order they appear, with their values checked, and their
    strings truncated as Mixpanel does."""
    operations: list[Operation] = []
    for key, value in record.items():
        if key in allowed:
            problem = _operation_value_problem(key, value)
            if problem is not None:
                return problem
            operations.append((key, properties_truncated(value) if key in _TRUNCATED else value))
        elif key in ENGAGE_OPERATIONS:
            return field_problem(key, "is not supported by this endpoint")
    if not operations:
        return Problem(
            field="record",
            message="record has no profile operation: expected one of " + ", ".join(allowed),
        )
    return operations


def _operation_value_problem(operation: str, value: Any) -> Problem | None:
    if operation == DELETE:
        return None
    if operation == UNSET:
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            return field_problem(operation, "must be a list of property names")
        return None
    if not isinstance(value, dict):
        return field_problem(operation, "must be a JSON object of property names and values")
    problem = properties_problem(value, prefix=operation)
    if problem is not None:
        return problem
    if operation == ADD:
        for name, amount in value.items():
            if isinstance(amount, bool) or not isinstance(amount, int | float):
                return field_problem(property_field(operation, name), "must be a number")
    elif operation == UNION:
        for name, items in value.items():
            if not isinstance(items, list):
                return field_problem(property_field(operation, name), "must be a list")
    return None


def operations_apply(current: dict | None, operations: Sequence[Operation]) -> dict | None:
    """The profile's properties after the operations, None if it does not exist (any more).

    Never mutates `current`: the result is a new dict whenever something changed.
    """
    properties = None if current is None else dict(current)
    for operation, value in operations:
        if operation == DELETE:
            properties = None
            continue
        if properties is None:
            if operation not in _CREATING:
                continue
            properties = {}
        if operation == SET:
            properties.update(value)
        elif operation == SET_ONCE:
            for name, item in value.items():
                properties.setdefault(name, item)
        elif operation == ADD:
            for name, amount in value.items():
                properties[name] = _added(properties.get(name, 0), amount, name=name)
        elif operation == APPEND:
            for name, item in value.items():
                properties[name] = [*_list_of(properties, name, operation), item]
        elif operation == UNION:
            for name, items in value.items():
                merged = list(_list_of(properties, name, operation))
                present = {_identity(item) for item in merged}
                for item in items:
                    key = _identity(item)
                    if key not in present:
                        present.add(key)
                        merged.append(item)
                properties[name] = merged
        elif operation == REMOVE:
            for name, item in value.items():
                if name in properties:
                    key = _identity(item)
                    properties[name] = [
                        kept
                        for kept in _list_of(properties, name, operation)
                        if _identity(kept) != key
                    ]
        elif operation == UNSET:
            for name in value:
                properties.pop(name, None)
    return properties


def _added(current: Any, amount: int | float, *, name: str) -> int | float:
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise OperationConflict(
            field_problem(
                property_field(ADD, name), "cannot add to a property that is not a number"
            )
        )
    total = current + amount
    if not math.isfinite(total):
        raise OperationConflict(
            field_problem(property_field(ADD, name), "would make the property too large for JSON")
        )
    return total


def _list_of(properties: dict, name: str, operation: str) -> list:
    current = properties.get(name)
    if current is None:
        return []
    if not isinstance(current, list):
        raise OperationConflict(
            field_problem(
                property_field(operation, name), "cannot change a property that is not a list"
            )
        )
    return current


def _identity(item: Any) -> str:
    """JSON equality: 1 and true differ, key order of objects does not matter."""
    return json.dumps(item, sort_keys=True, separators=(",", ":"))
