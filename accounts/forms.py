from django import forms

from accounts.models import Role

RESET_CONFIRMATION_LABEL = "I understand this invalidates any application using the current token"


def roles_assignable_by(actor_role: Role | str | None) -> list[Role]:
    """The roles a manager is offered; the services still refuse anything else."""
    if actor_role == Role.OWNER:
        return [Role.OWNER, Role.ADMIN, Role.MEMBER]
    return [Role.ADMIN, Role.MEMBER]


class _RoleChoiceMixin:
    def _limit_roles(self, roles: list[Role]) -> None:
        field = self.fields["role"]  # type: ignore[attr-defined]
        field.choices = [(role.value, role.label) for role in roles]
        if Role.OWNER not in roles:
            field.error_messages["invalid_choice"] = (
                "Choose Admin or Member: only owners can grant the owner role."
            )


class InvitationForm(_RoleChoiceMixin, forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(label="Role", initial=Role.MEMBER)

    def __init__(self, *args, roles: list[Role], **kwargs):
        super().__init__(*args, **kwargs)
        self._limit_roles(roles)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class MemberRoleForm(_RoleChoiceMixin, forms.Form):
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args, roles: list[Role], **kwargs):
        super().__init__(*args, **kwargs)
        self._limit_roles(roles)


class GdprTokenResetForm(forms.Form):
    """Resetting a token breaks whatever uses it, so it takes an explicit confirmation; creating
    the first one does not."""

    confirm = forms.BooleanField(
        label=RESET_CONFIRMATION_LABEL,
        error_messages={
            "required": "Tick the box to confirm: the current token stops working at once."
        },
    )

    def __init__(self, *args, has_token: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not has_token:
            del self.fields["confirm"]
