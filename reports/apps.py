from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Finance reports read off the books: waterfall, roll-forward, RPO, billings, bookings."""

    name = "reports"
    verbose_name = "Reports"
    default_auto_field = "django.db.models.BigAutoField"
