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


class RMSAdminConfig(AdminConfig):
    """Django's admin, running ``RMSAdminSite``."""

    default_site = "rms.admin_site.RMSAdminSite"
