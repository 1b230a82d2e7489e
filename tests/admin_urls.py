"""Reversing admin URLs in tests."""

from django.urls import reverse


def admin_url(model, view: str, *args) -> str:
    """Return the admin URL of ``view`` ("changelist", "add", "change", ...) for ``model``."""
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)
