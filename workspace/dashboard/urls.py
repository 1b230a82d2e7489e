from django.urls import URLPattern, path

from workspace.dashboard.views import dashboard


def urls(site) -> list[URLPattern]:
    """Return the dashboard's admin URLs, each wrapped in ``site.admin_view``.

    The dashboard is also the site's index for those who may see it (``RMSAdminSite.index``);
    ``apps/`` keeps Django's own index, every app and model, a click away.
    """
    return [
        path(
            "dashboard/",
            site.admin_view(lambda request: dashboard(site, request)),
            name="workspace_dashboard",
        ),
        path("apps/", site.admin_view(site.app_index_all), name="workspace_apps"),
    ]
