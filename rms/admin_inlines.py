"""Inlines that only show history: nothing added, changed or deleted from them."""

from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest


class RowsShareTheirParent(BaseInlineFormSet):
    """Hand each row the parent object the page already loaded.

    The admin prints every existing row's ``str()``, and a row's name often includes its
    parent's (an invoice line is "INV-2026-000012 · Seats"): without this, a query per row.
    """

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        self.fk.set_cached_value(form.instance, self.instance)
        return form


class ReadOnlyInline(admin.TabularInline):
    """An inline that shows history: nothing added, changed or deleted from it.

    Its rows' forms carry no fields. The admin shows every column of an inline the user may not
    change as read-only text taken from the row itself, never from the form; yet it would build
    an editable form field for each column of each row, deep-copied, a money column's list of
    every currency included. On a contract with a long billing schedule that copying cost more
    than the rest of the page.
    """

    extra = 0
    can_delete = False
    formset = RowsShareTheirParent

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_formset(self, request: HttpRequest, obj=None, **kwargs):
        # ``fields=None`` is the admin asking which fields the inline has (``get_fields``): that
        # answer stays the model form's.
        kwargs.setdefault("fields", ())
        return super().get_formset(request, obj, **kwargs)
