from django.apps import AppConfig


class BillingConfig(AppConfig):
    """What comes due, bill runs, invoices and shipments."""

    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.receivers import (
            credit_what_a_modification_left_unused,
            deliver_what_a_hold_kept,
            invoice_what_a_hold_kept,
            preview_modification_billing,
            refresh_schedule_of_contract,
        )
        from contracts.modifications import modification_previewing
        from contracts.signals import (
            billing_hold_released,
            contract_modified,
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
        contract_modified.connect(
            credit_what_a_modification_left_unused,
            dispatch_uid="billing.credit_what_a_modification_left_unused",
        )
        modification_previewing.connect(
            preview_modification_billing, dispatch_uid="billing.preview_modification_billing"
        )
