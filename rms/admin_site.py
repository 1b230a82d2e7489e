"""The admin site RMS runs: Django's, with the finance workspace's pages mounted in it.

Installed through ``RMSAdminConfig`` in ``INSTALLED_APPS`` (Django's documented way to replace
the default site), so every ``@admin.register`` and ``admin.site`` keeps working unchanged.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class RMSAdminSite(admin.AdminSite):
    site_header = "RMS · Revenue Management"
    site_title = "RMS"
    index_title = "Billing and revenue"

    def get_urls(self):
        from workspace.urls import admin_urls

        return admin_urls(self) + super().get_urls()

    def index(self, request, extra_context=None):
        """Land finance staff on the dashboard; others (a project manager) on the app list."""
        from workspace.dashboard.views import dashboard, may_view

        if may_view(request.user):
            return dashboard(self, request)
        return super().index(request, extra_context)

    def app_index_all(self, request, extra_context=None):
        """Show Django's own index, every app and model the user may reach, under "All apps"."""
        return super().index(request, {"title": "All apps", **(extra_context or {})})


class RMSAdminConfig(AdminConfig):
    """Django's admin, running ``RMSAdminSite``."""

    default_site = "rms.admin_site.RMSAdminSite"
