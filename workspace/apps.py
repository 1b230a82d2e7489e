from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    """The finance workspace: dashboard, contract 360 and worklists, read across the books."""

    name = "workspace"
    verbose_name = "Workspace"
    default_auto_field = "django.db.models.BigAutoField"
