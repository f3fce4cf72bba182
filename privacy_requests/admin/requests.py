"""The privacy request list and page in the back office (DESIGN sections 1, 4 and 9).

Staff work the queues here: every state change is a service call with the staff user as actor
(which writes the audit entry); nothing here saves a request itself. Requests are read-only, and
no page links to an export: staff cannot download them.
"""

import json

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.db.models import Count, Prefetch, Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince, timeuntil

from accounts.actors import staff_actor
from config.admin_lookups import DeclaredLookupsOnly
from privacy_requests.admin.actions import (
    actions_available,
    cancel_requests,
    expedite_deletions,
    extend_deadline,
    retry_failed,
)
from privacy_requests.admin.display import (
    BackOfficeMedia,
    ReadOnlyAdminMixin,
    plural,
    pretty_json,
    short_when,
    when,
)
from privacy_requests.admin_links import queue_summary_links
from privacy_requests.admin_selectors import privacy_requests_matching, urgency_ordering
from privacy_requests.deadlines import deadline_state, due_soon_q, overdue_q
from privacy_requests.models import (
    AuditEntry,
    PrivacyRequest,
    RequestKind,
    RequestSubject,
    Status,
)
from privacy_requests.selectors import SUBJECTS_IN_LIST
from privacy_requests.services import privacy_sweep

# Subjects listed on a request's page; a request may have thousands (2,000 given, plus links).
SUBJECTS_SHOWN = 200


class DeadlineFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("week", "Due this week (next 7 days)")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "overdue":
            return queryset.filter(overdue_q(now))
        if self.value() == "week":
            return queryset.filter(due_soon_q(now))
        return queryset


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(DeclaredLookupsOnly, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "tracking_display",
        "subject_display",
        "status_display",
        "kind",
        "compliance",
        "organization",
        "project",
        "ids_count",
        "progress_display",
        "received_display",
        "due_display",
    ]
    list_filter = ["status", "kind", "compliance", DeadlineFilter, "organization"]
    extra_lookups = ("status__in",)  # the "Queued" link of the queue summary
    list_select_related = ["organization", "project"]
    list_per_page = 100
    search_fields = ["tracking_id"]  # the search itself is get_search_results
    search_help_text = (
        "The start of a tracking id, or a distinct_id (exact and case-sensitive; also finds "
        "requests whose subjects have since been pseudonymized)."
    )
    actions = [retry_failed, cancel_requests, expedite_deletions, extend_deadline]
    fieldsets = [
        (
            "Request",
            {
                "fields": [
                    "tracking_id",
                    "status_display",
                    "kind",
                    "compliance",
                    "disclosure",
                    "channel",
                    "organization",
                    "project",
                    "requested_by",
                ]
            },
        ),
        (
            "Deadline",
            {
                "fields": [
                    "received_display",
                    "due_display",
                    "extended",
                    "extension_reason",
                    "not_before",
                ]
            },
        ),
        (
            "Processing",
            {
                "fields": [
                    "progress_display",
                    "started_at",
                    "finished_at",
                    "attempts",
                    "runs",
                    "lease_until",
                    "snapshot_at",
                    "error_display",
                ]
            },
        ),
        (
            "Outcome",
            {
                "fields": [
                    "counts_display",
                    "not_found_display",
                    "result_display",
                    "canceled_by",
                    "canceled_at",
                    "subjects_pseudonymized_at",
                ]
            },
        ),
        (
            # Issue 19: staff see a large deletion's four-eyes approval but never decide it;
            # that is for a second owner or admin of the organization, on its pages.
            "Approval",
            {
                "fields": [
                    "approval_state",
                    "approval_expires_at",
                    "approval_decided_by",
                    "approval_decided_at",
                    "approval_reason",
                ]
            },
        ),
        ("Subjects", {"fields": ["subjects_display"]}),
        ("Audit trail", {"fields": ["audit_trail_display"]}),
    ]
    readonly_fields = flatten_fieldsets(fieldsets)
    Media = BackOfficeMedia

    def has_operate_permission(self, request) -> bool:
        """May run the actions: staff holding the "change privacy request" permission."""
        return request.user.is_staff and request.user.has_perm(
            "privacy_requests.change_privacyrequest"
        )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(given_ids=Count("subjects", filter=Q(subjects__linked=False)))
            .prefetch_related(
                Prefetch(
                    "subjects",
                    queryset=RequestSubject.objects.filter(
                        linked=False, position__lt=SUBJECTS_IN_LIST
                    ).order_by("position"),
                    to_attr="first_given",
                )
            )
        )

    def get_ordering(self, request):
        return urgency_ordering()

    def get_search_results(self, request, queryset, search_term):
        return privacy_requests_matching(queryset, search_term), False

    def get_urls(self):
        return [
            path(
                "sweep/",
                self.admin_site.admin_view(self.sweep_view),
                name="privacy_requests_privacyrequest_sweep",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        context = {
            "queue_summary": queue_summary_links(),
            "can_operate": self.has_operate_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {"request_actions": [], **(extra_context or {})}
        privacy_request = self.get_object(request, unquote(object_id))
        if privacy_request is not None and self.has_operate_permission(request):
            context["request_actions"] = actions_available(privacy_request)
        return super().change_view(request, object_id, form_url, extra_context=context)

    def sweep_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        changelist = reverse("admin:privacy_requests_privacyrequest_changelist")
        if not self.has_operate_permission(request):
            messages.error(
                request,
                "You may not run the sweep: it needs the permission to change privacy requests.",
            )
            return HttpResponseRedirect(changelist)
        # Event retention gets 2 s here, not a worker's 20: the page waits for the sweep.
        report = privacy_sweep(actor=staff_actor(request), retention_seconds=2)
        level = messages.WARNING if report.enqueue_failed else messages.SUCCESS
        messages.add_message(request, level, f"Sweep done: {report.as_text()}.")
        return HttpResponseRedirect(changelist)

    # -- Columns and read-only fields. --

    @admin.display(description="tracking id", ordering="tracking_id")
    def tracking_display(self, obj):
        # The whole id is long; its first characters tell requests apart in a list.
        return format_html('<code title="{}">{}…</code>', obj.tracking_id, obj.tracking_id[:12])

    @admin.display(description="subject")
    def subject_display(self, obj):
        """The first given ids and how many more; a pseudonymized request says so plainly
        rather than showing HMACs as if they were ids."""
        count = getattr(obj, "given_ids", 0) or 0
        if obj.subjects_pseudonymized_at:
            return format_html(
                '<span class="back-office-muted">{} pseudonymized {}</span>',
                plural(count, "id", "ids"),
                short_when(obj.subjects_pseudonymized_at)[:10],
            )
        first = [subject.distinct_id for subject in getattr(obj, "first_given", [])]
        if not first:
            return "—"
        more = count - len(first)
        return format_html(
            "{}{}",
            format_html_join(", ", '<code class="back-office-id">{}</code>', ((i,) for i in first)),
            format_html(' <span title="{} ids given">+{}</span>', count, more) if more > 0 else "",
        )

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return format_html(
            '<span class="request-status request-status-{}">{}</span>',
            obj.status.lower(),
            obj.status,
        )

    @admin.display(description="ids")
    def ids_count(self, obj):
        return getattr(obj, "given_ids", None)

    @admin.display(description="progress")
    def progress_display(self, obj):
        progress = obj.progress or {}
        if obj.status == Status.SUCCESS:
            return "done"
        if "total" not in progress:
            return "—"
        text = f"{progress.get('done', 0)}/{progress['total']}"
        if progress.get("phase"):
            text += f" ({progress['phase']})"
        return text

    @admin.display(description="received (UTC)", ordering="received_at")
    def received_display(self, obj):
        return short_when(obj.received_at)

    @admin.display(description="due (UTC)", ordering="due_at")
    def due_display(self, obj):
        now = timezone.now()
        state = deadline_state(obj, now=now)
        if state == "overdue":
            return format_html(
                '<span class="deadline-overdue">{}<br>overdue by {}</span>',
                short_when(obj.due_at),
                timesince(obj.due_at, now, depth=1),
            )
        if state == "due_soon":
            return format_html(
                '<span class="deadline-soon">{}<br>due in {}</span>',
                short_when(obj.due_at),
                timeuntil(obj.due_at, now, depth=1),
            )
        return short_when(obj.due_at)

    @admin.display(description="error")
    def error_display(self, obj):
        return obj.error or "—"

    @admin.display(description="counts")
    def counts_display(self, obj):
        return pretty_json(obj.counts) if obj.counts else "—"

    @admin.display(description="ids without data")
    def not_found_display(self, obj):
        if not obj.not_found:
            return "—"
        return format_html(
            "{}: {}",
            plural(len(obj.not_found), "id", "ids"),
            ", ".join(obj.not_found[:SUBJECTS_SHOWN]),
        )

    @admin.display(description="result")
    def result_display(self, obj):
        """What the result is, never a link to it: staff cannot download exports."""
        if obj.result_purged_at:
            return f"Removed {when(obj.result_purged_at)}: {obj.result_purge_reason or '—'}"
        if not obj.result_file:
            return "—"
        what = "Export package" if obj.kind == RequestKind.EXPORT else "Deletion receipt"
        text = f"{what}, {obj.result_size or 0} bytes, sha256 {obj.result_sha256 or '—'}"
        if obj.result_expires_at:
            text += f", expires {when(obj.result_expires_at)}"
        return text + " (only the organization's owners and admins can download it)"

    @admin.display(description="subjects")
    def subjects_display(self, obj):
        subjects = list(obj.subjects.order_by("position")[:SUBJECTS_SHOWN])
        total = obj.subjects.count()
        if not subjects:
            return "—"
        note = ""
        if obj.subjects_pseudonymized_at:
            note = f"Pseudonymized {when(obj.subjects_pseudonymized_at)}: ids shown as HMACs. "
        if total > len(subjects):
            note += f"First {len(subjects)} of {total}."
        rows = [
            (
                subject.position + 1,
                subject.distinct_id,
                "linked through the identity cluster" if subject.linked else "given",
            )
            for subject in subjects
        ]
        return render_to_string(
            "admin/privacy_requests/privacyrequest/subjects_table.html",
            {"note": note or plural(total, "subject", "subjects"), "rows": rows},
        )

    @admin.display(description="audit trail")
    def audit_trail_display(self, obj):
        rows = [
            (
                entry.seq,
                when(entry.at),
                entry.actor,
                entry.action,
                json.dumps(entry.detail, sort_keys=True, ensure_ascii=False),
            )
            for entry in AuditEntry.objects.filter(request=obj).order_by("seq")
        ]
        return render_to_string(
            "admin/privacy_requests/privacyrequest/audit_trail_table.html", {"rows": rows}
        )
