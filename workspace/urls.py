"""The workspace's pages, mounted inside the admin site (``rms.admin_site.RMSAdminSite``)."""

from django.urls import URLPattern

from workspace.contract360.urls import urls as contract360_urls
from workspace.dashboard.urls import urls as dashboard_urls
from workspace.worklists.urls import urls as worklists_urls


def admin_urls(site) -> list[URLPattern]:
    return [*dashboard_urls(site), *contract360_urls(site), *worklists_urls(site)]
