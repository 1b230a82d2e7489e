from django.apps import AppConfig


class RevenueConfig(AppConfig):
    """Performance obligations, allocation, recognition schedules, journal and contract position.

    The app is installed from the start so that its migrations chain from the first release;
    its models arrive with the revenue engine.
    """

    name = "revenue"
    default_auto_field = "django.db.models.BigAutoField"
