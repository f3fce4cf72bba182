from django.contrib.admin.apps import AdminConfig


class BackOfficeAdminConfig(AdminConfig):
    """django.contrib.admin with the back office's site: allauth's sign-in, and MFA for staff
    (config.admin_access)."""

    default_site = "config.admin_site.BackOfficeAdminSite"

    def ready(self) -> None:
        super().ready()
        from config.admin_access import connect_signals

        connect_signals()
