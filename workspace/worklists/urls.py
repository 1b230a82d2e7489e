from functools import partial

from django.urls import URLPattern, path
from django.views.decorators.http import require_POST

from workspace.worklists.views import action_view, hub_view, list_view


def urls(site) -> list[URLPattern]:
    """Return this part's admin URLs, each wrapped in ``site.admin_view``."""
    view = site.admin_view
    return [
        path("worklists/", view(partial(hub_view, site)), name="workspace_worklists"),
        path("worklists/<slug:slug>/", view(partial(list_view, site)), name="workspace_worklist"),
        path(
            "worklists/<slug:slug>/<slug:action>/<int:pk>/",
            view(require_POST(partial(action_view, site))),
            name="workspace_worklist_action",
        ),
    ]
