"""Routes of the billing API, mounted under ``/api/v1/`` by ``rms.api_urls``."""

from django.urls import path

from billing.api import views

urlpatterns = [
    path("usage-records/", views.UsageRecordListView.as_view(), name="usage-record-list"),
]
