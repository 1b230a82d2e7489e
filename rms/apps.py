from django.apps import AppConfig


class RmsConfig(AppConfig):
    """Project-wide pieces: the admin site (``rms.admin_site``), shared management commands, the
    ``__any`` lookup (``rms.lookups``)."""

    name = "rms"

    def ready(self) -> None:
        from rms import lookups  # noqa: F401  (registers ``__any`` on every field)
