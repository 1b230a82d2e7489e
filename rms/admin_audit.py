"""The audit trail on each object's admin page: its History lists who, when, how and what changed.

``AuditHistoryAdmin`` is django-simple-history's ``SimpleHistoryAdmin`` made read-only: a past
version is a page of values, never a form to restore it (``SIMPLE_HISTORY_REVERT_DISABLED``, and
a POST to a version's page is refused), and the historical models have no admin of their own, so
no record can be edited or deleted. Rows that have no page of their own (a contract's lines, a
payment's applications) show their history on their parent's History page (``history_related``).
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.timezone import localtime
from djmoney.money import Money
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import HistoricalChanges, ModelChange, ModelDelta
from simple_history.template_utils import HistoricalRecordContextHelper
from simple_history.utils import get_history_model_for_model

from rms.audit import TYPE_NAMES, audited_fields, previous_records, record_changes
from rms.money import money_text

# Records of related rows shown on a History page; older ones are in the API.
RELATED_HISTORY_LIMIT = 100


@dataclass(frozen=True)
class RelatedHistory:
    """The history of rows of ``model`` whose ``lookup`` is the object's id, e.g. its lines."""

    title: str
    model: type[models.Model]
    lookup: str
    label: Callable[[HistoricalChanges], str]
    select_related: tuple[str, ...] = ()


def _display(field: models.Field, value, related: dict[tuple[type, object], object]):
    """Show a value as the change form does: choice labels, related objects, money, yes/no."""
    if value is None or value == "":
        return "—"
    if field.is_relation:
        return related.get((field.related_model, value), f"#{value} (deleted)")
    if field.choices:
        return dict(field.flatchoices).get(value, value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Money):
        return money_text(value)
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, datetime):
        return date_format(localtime(value), "DATETIME_FORMAT")
    if isinstance(value, date):
        return date_format(value, "DATE_FORMAT")
    return value


class AuditContextHelper(HistoricalRecordContextHelper):
    """Format a record's changes with ``_display``, related objects loaded beforehand."""

    def __init__(self, model, record, related: dict[tuple[type, object], object]) -> None:
        super().__init__(model, record)
        self.related = related

    def prepare_delta_change_value(self, change: ModelChange, value):
        return _display(self.model._meta.get_field(change.field), value, self.related)


def _related_objects(
    model: type[models.Model], changes: Iterable[ModelChange]
) -> dict[tuple[type, object], object]:
    """Load the objects the changed foreign keys name: one query per related model."""
    wanted: dict[type, set] = defaultdict(set)
    for change in changes:
        field = model._meta.get_field(change.field)
        if field.is_relation:
            wanted[field.related_model].update(v for v in (change.old, change.new) if v is not None)
    return {
        (related, pk): obj
        for related, pks in wanted.items()
        for pk, obj in related._default_manager.in_bulk(pks).items()
    }


def _attach_changes(model: type[models.Model], records: Sequence[HistoricalChanges]) -> None:
    """Set ``history_delta_changes`` (field, old, new, for display) and the action on each record.

    A creation shows no values here: the version it made is one click away, and listing all its
    fields would bury the changes.
    """
    previous = previous_records(records)
    changes = {
        record.history_id: record_changes(record, before) if before is not None else []
        for record in records
        for before in [previous[record.history_id]]
    }
    related = _related_objects(model, (c for listed in changes.values() for c in listed))
    for record in records:
        listed = changes[record.history_id]
        delta = ModelDelta(listed, [change.field for change in listed], None, record)
        helper = AuditContextHelper(model, record, related)
        record.history_delta_changes = helper.context_for_delta_changes(delta)
        record.audit_action = TYPE_NAMES[record.history_type]


class AuditHistoryAdmin(SimpleHistoryAdmin):
    """A History page showing who, when, through what and which fields changed; no revert."""

    object_history_template = "rms/audit_history.html"
    object_history_list_template = "rms/audit_history_list.html"
    history_related: Sequence[RelatedHistory] = ()

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        self._refuse_hidden(request, unquote(object_id))
        return super().history_view(request, object_id, extra_context)

    def _refuse_hidden(self, request: HttpRequest, pk) -> None:
        """404 for a live object outside the user's ``get_queryset`` (a scoped admin).

        simple-history would fall back to the object's last record, showing the trail of an
        object the user may not see; a deleted object's trail stays visible as simple-history
        shows it, to whoever may view the model.
        """
        manager = self.model._default_manager
        try:
            live = manager.filter(pk=pk).exists()
        except (ValueError, ValidationError):
            raise Http404 from None
        if live and not self.get_queryset(request).filter(pk=pk).exists():
            raise Http404

    def get_history_queryset(self, request, history_manager, pk_name: str, object_id):
        # Related objects of changed foreign keys are loaded once per page (_related_objects),
        # not joined into every record as simple-history does.
        return history_manager.filter(**{pk_name: object_id}).select_related("history_user")

    def render_history_view(self, request, template, context, **kwargs):
        if template == self.object_history_template:
            context["related_histories"] = self.related_histories(context["object"].pk)
        return super().render_history_view(request, template, context, **kwargs)

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        """Show each record's changes, the oldest one on the page's included."""
        _attach_changes(self.model, list(historical_records))

    def related_histories(self, object_id) -> list[dict]:
        """Return the latest records of the rows in ``history_related``, a section each."""
        sections = []
        for related in self.history_related:
            history = get_history_model_for_model(related.model)
            records = list(
                history.objects.filter(**{related.lookup: object_id})
                .select_related("history_user", *related.select_related)
                .order_by("-history_date", "-history_id")[:RELATED_HISTORY_LIMIT]
            )
            _attach_changes(related.model, records)
            for record in records:
                record.audit_label = related.label(record)
            sections.append(
                {"title": related.title, "records": records, "limit": RELATED_HISTORY_LIMIT}
            )
        return sections

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context=None
    ) -> HttpResponse:
        """Show the object as one record left it, field by field, with who, when and how.

        A page of values, not simple-history's change form: there is nothing to submit, and it
        needs no form that a view-only admin (issued documents, payments) cannot build.
        """
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("Past versions are read-only.")
        history = get_history_model_for_model(self.model)
        if not version_id.isdigit():
            raise Http404
        pk = unquote(object_id)
        self._refuse_hidden(request, pk)
        record = get_object_or_404(
            history.objects.select_related("history_user"),
            **{self.model._meta.pk.attname: pk, "history_id": version_id},
        )
        obj = self.get_queryset(request).filter(pk=pk).first() or record.instance
        if not self.has_view_history_or_change_history_permission(request, obj):
            raise PermissionDenied
        shown = set(audited_fields(history))
        fields = [field for field in history.tracked_fields if field in shown]
        values = [ModelChange(f.name, None, getattr(record, f.attname)) for f in fields]
        related = _related_objects(self.model, values)
        record.audit_action = TYPE_NAMES[record.history_type]
        opts = self.model._meta
        when = date_format(localtime(record.history_date), "DATETIME_FORMAT")
        context = {
            **self.admin_site.each_context(request),
            "title": f"{obj} as of {when}",
            "opts": opts,
            "object": obj,
            "record": record,
            "rows": [
                (capfirst(field.verbose_name), _display(field, value.new, related))
                for field, value in zip(fields, values, strict=True)
            ],
            "history_url": reverse(
                f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_history",
                args=[quote(obj.pk)],
            ),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "rms/audit_version.html", context)
