from django.apps import AppConfig


class RevenueConfig(AppConfig):
    """Performance obligations, allocation, recognition schedules, journal and contract position."""

    name = "revenue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.signals import (
            credit_note_issued,
            invoice_voided,
            invoices_issued,
            obligations_satisfied,
        )
        from contracts.signals import contract_modified, contract_terms_changed
        from revenue import receivers

        contract_terms_changed.connect(
            receivers.follow_contract_terms, dispatch_uid="revenue.follow_contract_terms"
        )
        contract_modified.connect(
            receivers.account_for_modification, dispatch_uid="revenue.account_for_modification"
        )
        invoices_issued.connect(receivers.post_issued_invoices, dispatch_uid="revenue.issued")
        invoice_voided.connect(receivers.post_voided_invoice, dispatch_uid="revenue.voided")
        credit_note_issued.connect(receivers.post_credit_note, dispatch_uid="revenue.credit_note")
        obligations_satisfied.connect(
            receivers.recognize_satisfied, dispatch_uid="revenue.recognize_satisfied"
        )
