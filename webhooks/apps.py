from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Signed event notifications to subscribers' URLs, delivered by Celery with retries."""

    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.signals import (
            bill_run_finished,
            invoices_issued,
            invoices_paid,
            milestone_achieved,
        )
        from contracts.signals import contract_renewed
        from webhooks import receivers

        invoices_issued.connect(receivers.invoices_issued, dispatch_uid="webhooks.issued")
        invoices_paid.connect(receivers.invoices_paid, dispatch_uid="webhooks.paid")
        milestone_achieved.connect(receivers.milestone_achieved, dispatch_uid="webhooks.milestone")
        bill_run_finished.connect(receivers.bill_run_finished, dispatch_uid="webhooks.bill_run")
        contract_renewed.connect(receivers.contract_renewed, dispatch_uid="webhooks.renewed")
