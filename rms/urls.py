"""Top-level URLs: the admin (the finance back office), the API and its documentation."""

from django.contrib import admin
from django.urls import include, path
from django.views.defaults import page_not_found
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from rms.api_errors import api_not_found
from rms.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz/", healthz, name="healthz"),
    path("api/v1/", include("rms.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]


def _not_found(request, exception):
    """Answer an unknown API address in the API's error shape; the rest of the site as usual."""
    if request.path.startswith("/api/"):
        return api_not_found(request)
    return page_not_found(request, exception)


handler404 = _not_found
