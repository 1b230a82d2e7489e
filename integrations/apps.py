from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IntegrationsConfig(AppConfig):
    """API clients: scoped tokens, roles, idempotent retries."""

    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.roles import roles_sync

        post_migrate.connect(roles_sync, sender=self)
