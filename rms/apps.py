from django.apps import AppConfig


class RmsConfig(AppConfig):
    """Project-wide pieces: the admin site (``rms.admin_site``), shared management commands."""

    name = "rms"
