from django.urls import URLPattern


def urls(site) -> list[URLPattern]:
    """Return this part's admin URLs, each wrapped in ``site.admin_view``."""
    return []
