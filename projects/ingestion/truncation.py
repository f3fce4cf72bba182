"""Mixpanel truncates every string value to 255 characters ("We truncate all strings down to 255
characters", its /import reference); ingestion does the same before storing, at any depth of
nested objects and lists. Property names and the event name are not values: they are kept, or
refused when too long.
"""

from typing import Any

from projects.ingestion.limits import MAX_STRING_LENGTH


def properties_truncated(properties: dict, *, left_out: frozenset[str] = frozenset()) -> dict:
    """A copy of `properties` without the names in `left_out`, every string value cut to
    MAX_STRING_LENGTH characters. Never changes `properties` itself."""
    # A comprehension, then a pass over the copy: the cheapest shape on the ingestion path.
    kept = {name: value for name, value in properties.items() if name not in left_out}
    for name, value in kept.items():
        kind = value.__class__
        if kind is str:
            if len(value) > MAX_STRING_LENGTH:
                kept[name] = value[:MAX_STRING_LENGTH]  # an existing key: safe while iterating
        elif kind is dict or kind is list:
            kept[name] = _truncated(value)
    return kept


def _truncated(value: Any) -> Any:
    """`value` with its long strings cut: the same object when nothing was cut."""
    kind = type(value)
    if kind is str:
        return value[:MAX_STRING_LENGTH] if len(value) > MAX_STRING_LENGTH else value
    if kind is dict:
        changed_dict: dict | None = None
        for key, item in value.items():
            cut = _truncated(item)
            if cut is not item:
                if changed_dict is None:
                    changed_dict = dict(value)
                changed_dict[key] = cut
        return value if changed_dict is None else changed_dict
    if kind is list:
        changed_list: list | None = None
        for position, item in enumerate(value):
            cut = _truncated(item)
            if cut is not item:
                if changed_list is None:
                    changed_list = list(value)
                changed_list[position] = cut
        return value if changed_list is None else changed_list
    return value
