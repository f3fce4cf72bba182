"""People and organizations in the back office (issue 15, finding 1).

Staff see everything here but change little: nothing moves a membership to another user or
organization, membership changes go through the members services (the last-owner rule, an entry
in the organization's audit chain with the staff user as actor), no page sets or shows a
password (staff send allauth's reset email instead), login addresses are the users' own, and
only superusers grant permissions.
"""

from allauth.account.forms import ResetPasswordForm
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from accounts.actors import staff_actor
from accounts.errors import AccountsError
from accounts.models import GdprToken, Membership, Organization, User
from accounts.services import (
    membership_change_role,
    membership_remove,
    membership_set,
    user_get_or_create,
)
from config.admin_lookups import DeclaredLookupsOnly

PERMISSION_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")


class ViewOnlyAdminMixin:
    """Records the back office shows but never adds, changes or deletes."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def password_reset_email_send(request: HttpRequest, user: User) -> str | None:
    """Sends allauth's password reset email to the user's own address; the reason it was not
    sent otherwise (allauth's rate limit, an inactive account)."""
    if not user.is_active:
        return "the account is inactive"
    form = ResetPasswordForm(data={"email": user.email})
    if not form.is_valid():
        return " ".join(str(error) for errors in form.errors.values() for error in errors)
    form.save(request)
    return None


class UserAddForm(forms.ModelForm):
    """An account by email only: its owner chooses the password from the reset email."""

    class Meta:
        model = User
        fields = ["email"]

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with this email address already exists.")
        return email


class UserChangeForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["name", "is_active", *PERMISSION_FIELDS]


@admin.register(User)
class UserAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    """No password field, no password page: a password is set only by its owner (sign-up, reset
    email). The email is the login and the reset address, so staff cannot change it either:
    that and a reset email would take the account over."""

    form = UserChangeForm
    add_form = UserAddForm
    ordering = ["email"]
    list_display = ["email", "name", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "name"]
    filter_horizontal = ["groups", "user_permissions"]
    actions = ["send_password_reset"]
    fieldsets = (
        (None, {"fields": ("email",)}),
        ("Profile", {"fields": ("name",)}),
        ("Permissions", {"fields": ("is_active", *PERMISSION_FIELDS)}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "fields": ("email",),
                "description": (
                    "The person gets an email to choose their password; nobody else ever "
                    "sets it. Grant staff status afterwards if they operate the back office."
                ),
            },
        ),
    )

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj else self.add_fieldsets

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        readonly = ["email", "last_login", "date_joined"]
        if not request.user.is_superuser:
            # Permissions are granted by superusers only, or staff could grant themselves any.
            readonly.extend(PERMISSION_FIELDS)
        return readonly

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Deleting a user deletes their memberships, past the last-owner rule and the audit
        # chain: staff deactivate an account instead.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        user, _ = user_get_or_create(email=obj.email)
        obj.pk, obj.date_joined = user.pk, user.date_joined
        refusal = password_reset_email_send(request, user)
        if refusal:
            messages.warning(request, f"No password reset email went to {user.email}: {refusal}.")
        else:
            messages.info(request, f"{user.email} was emailed a link to choose their password.")

    @admin.action(
        description="Send a password reset email to the selected users", permissions=["change"]
    )
    def send_password_reset(self, request, queryset):
        for user in queryset.order_by("email"):
            refusal = password_reset_email_send(request, user)
            if refusal:
                messages.error(request, f"No password reset email went to {user.email}: {refusal}.")
            else:
                messages.success(request, f"Password reset email sent to {user.email}.")


# allauth's own admin adds, edits and verifies addresses: an address added to someone else's
# account, then a password reset sent to it, would take that account over. Staff only look.
admin.site.unregister(EmailAddress)


@admin.register(EmailAddress)
class EmailAddressAdmin(DeclaredLookupsOnly, ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["email", "user", "primary", "verified"]
    list_filter = ["primary", "verified"]
    search_fields = ["email", "user__email"]
    list_select_related = ["user"]
    fields = ["user", "email", "primary", "verified"]
    readonly_fields = fields


# Groups carry permissions: only superusers edit them, as only they edit a user's.
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DeclaredLookupsOnly, DjangoGroupAdmin):
    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class MembershipInline(ViewOnlyAdminMixin, admin.TabularInline):
    """The organization's members, to read; each row links to its membership's page."""

    model = Membership
    fields = ["user", "role", "created_at"]
    readonly_fields = fields
    show_change_link = True
    extra = 0


@admin.register(Organization)
class OrganizationAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    """Organizations are created at sign-up or by `createorg`, always with an owner, and never
    deleted here: that would remove every membership without a trace."""

    list_display = ["name", "id", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Membership)
class MembershipAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    """Adds, changes the role of and removes members through the members services, as the
    members page does: the last owner stays, staff never change their own membership, and each
    change is an entry in the organization's audit chain with the staff user as actor."""

    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "organization__name"]
    autocomplete_fields = ["user", "organization"]
    list_select_related = ["user", "organization"]
    actions = ["remove_members"]

    def get_readonly_fields(self, request, obj=None):
        # A membership never moves to another person or organization: only its role changes.
        return ["user", "organization", "created_at"] if obj else ["created_at"]

    def get_actions(self, request):
        # Django's bulk delete would bypass the service; remove_members calls it.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        actor = staff_actor(request)
        if change:
            membership_change_role(actor=actor, membership=obj, role=obj.role)
            return
        membership, _ = membership_set(
            actor=actor, organization=obj.organization, user=obj.user, role=obj.role
        )
        obj.pk, obj.created_at = membership.pk, membership.created_at

    def delete_model(self, request, obj):
        membership_remove(actor=staff_actor(request), membership=obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except AccountsError as exc:  # raised by the service; its transaction rolled back
            messages.error(request, f"Nothing was changed: {exc}")
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except AccountsError as exc:
            messages.error(request, f"The membership was not removed: {exc}")
            return HttpResponseRedirect(
                reverse("admin:accounts_membership_change", args=[object_id])
            )

    @admin.action(description="Remove the selected members", permissions=["delete"])
    def remove_members(self, request, queryset):
        actor = staff_actor(request)
        for membership in queryset.select_related("user", "organization"):
            label = f"{membership.user.email} from {membership.organization.name}"
            try:
                membership_remove(actor=actor, membership=membership)
            except AccountsError as exc:
                messages.error(request, f"{label} was not removed: {exc}")
            else:
                messages.success(request, f"Removed {label}.")


@admin.register(GdprToken)
class GdprTokenAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    """Read-only: tokens are issued and reset by their owner; staff only see when."""

    list_display = ["user", "created_at", "expires_at", "last_used_at"]
    search_fields = ["user__email"]
    readonly_fields = ["user", "created_at", "expires_at", "last_used_at"]
    exclude = ["token_hash"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# allauth.mfa's own admin shows and edits an authenticator's data: its TOTP secret and recovery
# codes. Staff see only that one exists, and may remove it for a user who lost their device.
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    list_display = ["user", "type", "created_at", "last_used_at"]
    list_filter = ["type"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    fields = ["user", "type", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
