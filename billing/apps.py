from django.apps import AppConfig


class BillingConfig(AppConfig):
    """What comes due, bill runs, invoices and shipments."""

    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.receivers import (
            deliver_what_a_hold_kept,
            invoice_what_a_hold_kept,
            refresh_schedule_of_contract,
        )
        from contracts.signals import (
            billing_hold_released,
            contract_terms_changed,
            delivery_hold_released,
        )

        contract_terms_changed.connect(
            refresh_schedule_of_contract, dispatch_uid="billing.refresh_schedule_of_contract"
        )
        delivery_hold_released.connect(
            deliver_what_a_hold_kept, dispatch_uid="billing.deliver_what_a_hold_kept"
        )
        billing_hold_released.connect(
            invoice_what_a_hold_kept, dispatch_uid="billing.invoice_what_a_hold_kept"
        )
