"""Routes of the billing API, mounted under ``/api/v1/`` by ``rms.api_urls``."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api import bill_runs, credit_notes, invoices, milestones, payments, shipments, views

router = SimpleRouter()
router.register("milestones", milestones.MilestoneViewSet, basename="milestone")
router.register(
    "milestone-templates", milestones.MilestoneTemplateViewSet, basename="milestone-template"
)
router.register("invoices", invoices.InvoiceViewSet, basename="invoice")
router.register("credit-notes", credit_notes.CreditNoteViewSet, basename="credit-note")
router.register("payments", payments.PaymentViewSet, basename="payment")
router.register("shipments", shipments.ShipmentViewSet, basename="shipment")
router.register("bill-runs", bill_runs.BillRunViewSet, basename="bill-run")

urlpatterns = [
    path("usage-records/", views.UsageRecordListView.as_view(), name="usage-record-list"),
    path(
        "contract-lines/<int:id>/milestone-schedule/",
        milestones.MilestoneScheduleView.as_view(),
        name="milestone-schedule",
    ),
    *router.urls,
]
