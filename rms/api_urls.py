"""Version 1 of the REST API: each app's routes, mounted together under ``/api/v1/``."""

from django.urls import include, path

app_name = "v1"

urlpatterns = [
    path("", include("billing.api.urls")),
    path("", include("revenue.api.urls")),
]
