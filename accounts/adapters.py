from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction

from accounts.services import organization_create_for_signup


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        # Everyone who signs up owns an organization of their own from the first moment.
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=commit)
            if commit:
                organization_create_for_signup(user=user)
        return user
