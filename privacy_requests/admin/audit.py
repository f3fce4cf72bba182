"""The audit trail in the back office: append-only, so nothing here writes; "verify" recomputes
each organization's HMAC chain and reports the first broken link."""

from django.contrib import admin, messages
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.models import Organization
from config.admin_lookups import DeclaredLookupsOnly
from privacy_requests.admin.display import BackOfficeMedia, ReadOnlyAdminMixin, plural, pretty_json
from privacy_requests.audit import audit_verify
from privacy_requests.models import AuditEntry

# Intact chains named in the verification message; the rest are counted.
NAMED_INTACT = 20


@admin.register(AuditEntry)
class AuditEntryAdmin(DeclaredLookupsOnly, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "organization", "seq", "action", "actor", "request_link", "hash_short"]
    list_filter = ["organization", "action", "at"]
    date_hierarchy = "at"
    search_fields = ["request__tracking_id", "actor"]
    list_select_related = ["organization", "request"]
    ordering = ["-at", "-id"]
    list_per_page = 100
    actions = ["verify_chains"]
    fields = [
        "organization",
        "seq",
        "at",
        "actor",
        "request_link",
        "action",
        "detail_display",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields
    Media = BackOfficeMedia

    def get_urls(self):
        return [
            path(
                "verify/",
                self.admin_site.admin_view(self.verify_all_view),
                name="privacy_requests_auditentry_verify",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="request")
    def request_link(self, obj):
        if obj.request_id is None:
            return "—"
        url = reverse("admin:privacy_requests_privacyrequest_change", args=[obj.request_id])
        return format_html('<a href="{}">{}</a>', url, obj.request.tracking_id)

    @admin.display(description="hash")
    def hash_short(self, obj):
        return format_html('<code title="{}">{}…</code>', obj.hash, obj.hash[:12])

    @admin.display(description="detail")
    def detail_display(self, obj):
        return pretty_json(obj.detail)

    @admin.action(description="Verify the audit chains of the selected entries' organizations")
    def verify_chains(self, request, queryset):
        organization_ids = sorted(set(queryset.values_list("organization_id", flat=True)))
        self._report_verification(request, organization_ids)

    def verify_all_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        organization_ids = list(
            AuditEntry.objects.order_by("organization_id")
            .values_list("organization_id", flat=True)
            .distinct()
        )
        self._report_verification(request, organization_ids)
        return HttpResponseRedirect(reverse("admin:privacy_requests_auditentry_changelist"))

    @staticmethod
    def _report_verification(request, organization_ids: list[int]) -> None:
        names = dict(Organization.objects.filter(id__in=organization_ids).values_list("id", "name"))
        intact = []
        for organization_id in organization_ids:
            chain_break = audit_verify(organization_id=organization_id)
            label = f"{names.get(organization_id, '?')} (#{organization_id})"
            if chain_break is None:
                intact.append(label)
            else:
                messages.error(
                    request,
                    (
                        f"Audit chain of {label} is broken at entry #{chain_break.seq} "
                        f"(id {chain_break.entry_id}): {chain_break.reason}."
                    ),
                )
        if intact:
            shown = ", ".join(intact[:NAMED_INTACT])
            if len(intact) > NAMED_INTACT:
                shown += f" and {len(intact) - NAMED_INTACT} more"
            messages.success(
                request, f"{plural(len(intact), 'audit chain', 'audit chains')} intact: {shown}."
            )
