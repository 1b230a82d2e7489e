from django.apps import AppConfig


class ContractsConfig(AppConfig):
    """Customers, products, payment terms, contracts and their lines."""

    name = "contracts"
    default_auto_field = "django.db.models.BigAutoField"
