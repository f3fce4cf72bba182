"""The back office's lists filter and sort only as they declare (issue 15, finding 2).

Django's admin lets a list's query string filter on any of the model's own fields with any
lookup, JSON keys included: `/admin/projects/event/?properties__note__startswith=A` narrows the
list, so a staff user could read a property value one character at a time without opening, and
so without auditing, a record. Every admin of the back office mixes in DeclaredLookupsOnly: a
list takes the parameters of its own list filters and date hierarchy (and the few it names in
`extra_lookups`), sorts by its sortable columns, and answers anything else with Django's
DisallowedModelAdminLookup, a 400 that lists nothing.

It imports no app: the apps' admin modules use it.
"""

import re

from django.contrib.admin import SimpleListFilter
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.db import models

DATE_HIERARCHY_PARTS = ("year", "month", "day")
# One sort key of the `o` parameter: a column index, descending with a leading minus.
SORT_KEY = re.compile(r"-?(\d{1,4})")


def list_filter_parameters(model, list_filter) -> set[str]:
    """The query parameters Django's list filters read for these list_filter items.

    Mirrors django.contrib.admin.filters: a relation takes `<path>__<target>__exact`, a date
    `<path>__gte` and `<path>__lt`, any other field `<path>__exact`; each also `__isnull`, and
    the bare `<path>` (the same as exact).
    tests/privacy_requests/test_admin_lookups.py follows every filter link of every list, so a
    Django that names them otherwise fails there.
    """
    parameters: set[str] = set()
    for item in list_filter:
        if isinstance(item, type) and issubclass(item, SimpleListFilter):
            parameters.add(item.parameter_name)
            continue
        path = item[0] if isinstance(item, list | tuple) else item
        field = get_fields_from_path(model, path)[-1]
        if field.is_relation:
            parameters.add(f"{path}__{field.target_field.name}__exact")
        elif isinstance(field, models.DateField):  # DateTimeField too
            parameters |= {f"{path}__gte", f"{path}__lt"}
        else:
            parameters.add(f"{path}__exact")
        parameters |= {path, f"{path}__isnull"}
    return parameters


class DeclaredOrderingChangeList(ChangeList):
    """Sorts only by a sortable column that names an ordering; refuses any other `o`."""

    def get_ordering(self, request, queryset):
        order = self.params.get(ORDER_VAR)
        if order:
            for key in order.split("."):
                match = SORT_KEY.fullmatch(key)
                index = int(match.group(1)) if match else len(self.list_display)
                if index >= len(self.list_display) or not self._sorts_by(self.list_display[index]):
                    raise DisallowedModelAdminLookup(f"Sorting by {key!r} is not allowed.")
        return super().get_ordering(request, queryset)

    def _sorts_by(self, column) -> bool:
        return column in self.sortable_by and bool(self.get_ordering_field(column))


class DeclaredLookupsOnly:
    """For a ModelAdmin: its lists filter only through what they declare (module docstring)."""

    # Lookups a list takes besides its filters' own, e.g. the links of a summary.
    extra_lookups: tuple[str, ...] = ()

    def declared_lookups(self, request) -> set[str]:
        parameters = set(self.extra_lookups)
        if self.date_hierarchy:
            parameters |= {f"{self.date_hierarchy}__{part}" for part in DATE_HIERARCHY_PARTS}
        list_filter = self.get_list_filter(request)
        return parameters | list_filter_parameters(self.model, list_filter)

    def lookup_allowed(self, lookup, value, request=None):
        allowed = lookup in self.declared_lookups(request)
        return allowed and super().lookup_allowed(lookup, value, request)

    def get_changelist(self, request, **kwargs):
        return DeclaredOrderingChangeList
