from django.apps import AppConfig


class BillingConfig(AppConfig):
    """What comes due, usage rating, bill runs, invoices, credit notes and payments.

    The app is installed from the start so that its migrations chain from the first release;
    its models arrive with the billing engine.
    """

    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"
