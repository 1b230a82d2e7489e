from django.apps import AppConfig


class ImportsConfig(AppConfig):
    """CSV imports: layouts' shared pipeline, import jobs and their admin pages."""

    name = "imports"
    default_auto_field = "django.db.models.BigAutoField"
