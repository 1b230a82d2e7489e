"""Version 1 of the REST API: each app's routes, mounted together under ``/api/v1/``."""

from django.urls import include, path

from rms.api_audit import AuditTrailView

app_name = "v1"

urlpatterns = [
    path("", include("billing.api.urls")),
    path("", include("revenue.api.urls")),
    path("", include("contracts.api.urls")),
    path("", include("webhooks.api_urls")),
    path("audit/<str:model>/<int:id>/", AuditTrailView.as_view(), name="audit-trail"),
]
