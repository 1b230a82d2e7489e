"""The period close page: choose the month to close through, see which months that closes, and
close them on confirmation (revenue is recognized through the last of them first).
"""

from datetime import date

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from revenue.curves import ONE_DAY
from revenue.domain.earning import months_between
from revenue.domain.recognition import month_end, month_start
from revenue.journal import first_open_period
from revenue.models import JournalEntry, RevenuePeriod
from revenue.pages.shared import admin_page, date_input, long_date
from revenue.runs import period_close


class PeriodCloseForm(forms.Form):
    through = forms.DateField(
        label="Close through",
        widget=date_input(),
        help_text="Every open month up to and including this date's month is closed.",
    )


def may_close(request: HttpRequest) -> bool:
    """Tell whether the user may close periods: the change permission on periods, which the
    admin otherwise never grants (periods are read-only there)."""
    opts = RevenuePeriod._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


def period_close_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Ask for a month, show what closing it means, and close on confirmation."""
    if not may_close(request):
        raise PermissionDenied
    first_open = first_open_period()
    today = timezone.localdate()
    form = PeriodCloseForm(request.POST or None, initial={"through": month_start(today) - ONE_DAY})
    to_close: list[date] = []
    if request.method == "POST" and form.is_valid():
        month = month_start(form.cleaned_data["through"])
        if "confirm" in request.POST:
            try:
                closed = period_close(through=month, closed_by=request.user.get_username())
            except ValidationError as error:
                form.add_error("through", error.messages)
            else:
                model_admin.message_user(
                    request,
                    f"Closed {len(closed)} period(s) through {month:%B %Y}; revenue was "
                    f"recognized through {long_date(month_end(month))} first.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:revenue_revenueperiod_changelist"))
        else:
            start = first_open or min(earliest_posting() or month, month)
            to_close = months_between(start, month) if start <= month else []
            if not to_close:
                form.add_error(
                    "through",
                    f"{month:%B %Y} is already closed; the first open period is "
                    f"{first_open:%B %Y}.",
                )
    return admin_page(
        request,
        model_admin,
        "revenue/period_close.html",
        title="Close revenue periods",
        form=form,
        first_open=first_open,
        to_close=to_close,
        through=to_close[-1] if to_close else None,
        recognize_through=month_end(to_close[-1]) if to_close else None,
    )


def earliest_posting() -> date | None:
    """Return the first accounting month the journal has postings in."""
    return JournalEntry.objects.order_by("period").values_list("period", flat=True).first()
