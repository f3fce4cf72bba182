from django.apps import AppConfig


class PrivacyRequestsConfig(AppConfig):
    name = "privacy_requests"
    verbose_name = "Privacy requests"

    def ready(self) -> None:
        # Imported here, not at the top: apps.py is imported before models are ready.
        from accounts.membership_changes import membership_recorder_install
        from privacy_requests.services.memberships import membership_change_audit

        # accounts records membership changes through this, in the organization's audit chain.
        membership_recorder_install(membership_change_audit)
