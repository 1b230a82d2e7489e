"""Routes of the billing API, mounted under ``/api/v1/`` by ``rms.api_urls``."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api import milestones, views

router = SimpleRouter()
router.register("milestones", milestones.MilestoneViewSet, basename="milestone")
router.register(
    "milestone-templates", milestones.MilestoneTemplateViewSet, basename="milestone-template"
)

urlpatterns = [
    path("usage-records/", views.UsageRecordListView.as_view(), name="usage-record-list"),
    path(
        "contract-lines/<int:id>/milestone-schedule/",
        milestones.MilestoneScheduleView.as_view(),
        name="milestone-schedule",
    ),
    *router.urls,
]
