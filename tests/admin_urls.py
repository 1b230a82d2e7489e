"""Reversing admin URLs in tests."""

from django.contrib.admin.utils import quote
from django.urls import reverse


def admin_url(model, view: str, *args) -> str:
    """Return the admin URL of ``view`` ("changelist", "add", "change", ...) for ``model``.

    Primary keys are quoted as the admin itself quotes them: it unquotes every object id it
    receives, so an unquoted text key such as ``evt_22…`` would reach it as ``evt"…``.
    """
    return reverse(
        f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}",
        args=[quote(arg) for arg in args],
    )
