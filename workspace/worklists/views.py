"""The worklists' pages: the hub with each list's count, one page per list, and the actions.

Every page needs ``workspace.view_workspace`` and the permission to view what its list holds;
every action is a POST (with the admin's CSRF check) that needs the permission of what it
changes, and comes back to the list with a message saying what happened or why not.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from contracts.admin_renewals import DEFAULT_WINDOW_DAYS
from workspace.worklists.actions import ACTIONS, HOLDERS
from workspace.worklists.lists import (
    HOLDS,
    WORKLISTS,
    kept_back,
    renewals_due,
)

# Rows per page: a morning's work, and a page that renders well under the 300 ms budget.
PAGE_SIZE = 50

WORKSPACE_PERMISSION = "workspace.view_workspace"
RENEWALS_PERMISSION = "contracts.view_contract"


def _require(request: HttpRequest, *permissions: str) -> None:
    if not all(request.user.has_perm(p) for p in (WORKSPACE_PERMISSION, *permissions)):
        raise PermissionDenied


def _frame(site: admin.AdminSite, request: HttpRequest, title: str) -> dict:
    """The admin's header, sidebar and theme around a worklist page."""
    return {**site.each_context(request), "title": title}


def hub_view(site: admin.AdminSite, request: HttpRequest) -> HttpResponse:
    """List the worklists the user may see, each with how many rows wait on it."""
    _require(request)
    user, today = request.user, timezone.localdate()
    entries = [
        {
            "title": worklist.title,
            "summary": worklist.summary,
            "count": worklist.count(user=user, today=today),
            "url": reverse("admin:workspace_worklist", args=[worklist.slug]),
        }
        for worklist in WORKLISTS.values()
        if user.has_perm(worklist.view_permission)
    ]
    if user.has_perm(RENEWALS_PERMISSION):
        # The renewal worklist is the contracts admin's own page: linked, not repeated here.
        entries.append(
            {
                "title": "Renewals due",
                "summary": "Fixed-term contracts whose term ends within "
                f"{DEFAULT_WINDOW_DAYS} days (or has ended), on the renewal worklist: renew "
                "with an uplift, or mark not renewing.",
                "count": renewals_due(request).count(),
                "url": reverse("admin:contracts_contractrenewal_changelist"),
            }
        )
    context = {**_frame(site, request, "Worklists"), "entries": entries}
    return TemplateResponse(request, "workspace/worklists/hub.html", context)


def _page_number(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 1


def list_view(site: admin.AdminSite, request: HttpRequest, slug: str) -> HttpResponse:
    """Show one worklist, a page at a time, with its actions for whoever may take them."""
    worklist = WORKLISTS.get(slug)
    if worklist is None:
        raise Http404("No such worklist.")
    _require(request, worklist.view_permission)
    user, today = request.user, timezone.localdate()
    actions = {
        name: action.permission is None or user.has_perm(action.permission)
        for name, action in ACTIONS.get(slug, {}).items()
    }
    context = {
        **_frame(site, request, worklist.title),
        "worklist": worklist,
        "may": actions,
        "hub_url": reverse("admin:workspace_worklists"),
        "today": today,
    }
    if worklist is HOLDS:
        context.update(_holds(request, today))
    else:
        (rows,) = worklist.sections
        page = Paginator(rows(user=user, today=today), PAGE_SIZE).get_page(
            _page_number(request.GET.get("page"))
        )
        context["page"] = page
    return TemplateResponse(request, f"workspace/worklists/{slug}.html", context)


def _holds(request: HttpRequest, today) -> dict:
    """The holds page's two sections, each its first ``PAGE_SIZE`` holders with what their
    holds keep back (more than a page of holds is a list for the admin's filters)."""
    sections = {}
    for holder, rows in zip(HOLDERS, HOLDS.sections, strict=True):
        queryset = rows(user=request.user, today=today)
        shown = list(queryset[:PAGE_SIZE])
        kept = kept_back(shown, key=f"{holder}_id", today=today)
        sections[holder] = {
            "rows": [(row, kept[row.pk]) for row in shown],
            "more": max(queryset.count() - len(shown), 0) if len(shown) == PAGE_SIZE else 0,
            "may_release": request.user.has_perm(f"contracts.change_{holder}"),
            "list_url": reverse(f"admin:contracts_{holder}_changelist"),
        }
    return {"sections": sections}


def action_view(
    site: admin.AdminSite, request: HttpRequest, slug: str, action: str, pk: int
) -> HttpResponse:
    """Take one action on one row, then go back to the list's page with what came of it."""
    found = ACTIONS.get(slug, {}).get(action)
    if found is None:
        raise Http404("No such action.")
    _require(request, WORKLISTS[slug].view_permission)
    if found.permission is not None and not request.user.has_perm(found.permission):
        raise PermissionDenied
    try:
        level, text = found.perform(request, pk)
    except ValidationError as error:
        level, text = messages.ERROR, " ".join(error.messages) + " Nothing was changed."
    messages.add_message(request, level, text)
    back = reverse("admin:workspace_worklist", args=[slug])
    page = _page_number(request.POST.get("page"))
    return HttpResponseRedirect(f"{back}?page={page}" if page > 1 else back)
