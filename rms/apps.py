from django.apps import AppConfig


class RmsConfig(AppConfig):
    """Project-wide pieces: admin branding, shared management commands."""

    name = "rms"

    def ready(self) -> None:
        from django.contrib import admin

        admin.site.site_header = "RMS · Revenue Management"
        admin.site.site_title = "RMS"
        admin.site.index_title = "Billing and revenue"
