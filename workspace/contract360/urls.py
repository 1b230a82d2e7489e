from functools import partial

from django.urls import URLPattern, path

from workspace.contract360.views import contract360_view


def urls(site) -> list[URLPattern]:
    """Return this part's admin URLs, each wrapped in ``site.admin_view``.

    The page sits under the contract's own admin URL, so it reads as part of the contract; it is
    mounted before the admin's own URLs, whose catch-all would otherwise take it.
    """
    return [
        path(
            "contracts/contract/<int:contract_id>/360/",
            site.admin_view(partial(contract360_view, site)),
            name="workspace_contract360",
        )
    ]
