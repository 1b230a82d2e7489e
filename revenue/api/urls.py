"""Routes of the revenue API, mounted under ``/api/v1/`` by ``rms.api_urls``."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from revenue.api import views

router = SimpleRouter()
router.register("revenue-schedules", views.RevenueScheduleViewSet, basename="revenue-schedule")
router.register("obligations", views.PerformanceObligationViewSet, basename="obligation")
router.register("journal-entries", views.JournalEntryViewSet, basename="journal-entry")

urlpatterns = [
    path(
        "contracts/<int:id>/position/",
        views.ContractPositionView.as_view(),
        name="contract-position",
    ),
    path("positions/", views.PositionListView.as_view(), name="position-list"),
    path("positions/totals/", views.PositionTotalsView.as_view(), name="position-totals"),
    *router.urls,
]
