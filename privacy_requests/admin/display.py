"""How the back office shows things: times in UTC, JSON, counts, its stylesheet, and the
read-only pages of records that only the services write."""

import json

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html


def short_when(moment) -> str:
    return date_format(timezone.localtime(moment), "Y-m-d H:i") if moment else "—"


def when(moment) -> str:
    return f"{short_when(moment)} UTC" if moment else "—"


def pretty_json(value) -> str:
    return format_html(
        '<pre class="back-office-json">{}</pre>',
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False),
    )


def plural(count: int, singular: str = "request", plural_form: str = "requests") -> str:
    return f"{count} {singular if count == 1 else plural_form}"


class BackOfficeMedia:
    css = {"all": ["css/back_office.css"]}


class ReadOnlyAdminMixin:
    """For records that only the services and ingestion write or delete: the back office shows
    them and, through actions that call those services, acts on them, but never adds, changes
    or deletes one itself."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
