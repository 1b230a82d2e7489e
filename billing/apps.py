from django.apps import AppConfig


class BillingConfig(AppConfig):
    """What comes due, bill runs, invoices and shipments."""

    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.receivers import refresh_schedule_of_contract
        from contracts.signals import contract_terms_changed

        contract_terms_changed.connect(
            refresh_schedule_of_contract, dispatch_uid="billing.refresh_schedule_of_contract"
        )
