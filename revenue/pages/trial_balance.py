"""The trial balance: debits, credits and balance per ledger account and currency, of one month
or cumulative through a date, on the page or as a CSV download.
"""

from collections import defaultdict
from dataclasses import dataclass

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from revenue.models import LedgerAccount
from revenue.pages.shared import admin_page, csv_response, date_input, figure, long_date
from revenue.selectors import trial_balance
from rms.money import round_money


def trial_balance_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Show (or download) debits and credits per account: of one month, or to a date."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = TrialBalanceForm(request.GET)
    form.is_valid()
    period = form.cleaned_data.get("period")
    through = form.cleaned_data.get("through")
    if period is None and through is None:
        through = timezone.localdate()
    lines = [
        BalanceLine(row.account, Money(row.debit, row.currency), Money(row.credit, row.currency))
        for row in trial_balance(period=period, through=through)
    ]
    scope = f"{period:%Y-%m}" if period else f"through-{through.isoformat()}"
    if request.GET.get("download") == "csv":
        return csv_response(
            f"trial-balance-{scope}.csv",
            TRIAL_BALANCE_CSV_HEADER,
            (line.csv_row() for line in lines),
        )
    return admin_page(
        request,
        model_admin,
        "revenue/trial_balance.html",
        title="Trial balance",
        subtitle=f"{period:%B %Y}" if period else f"Cumulative through {long_date(through)}",
        form=form,
        period=period,
        through=through,
        currencies=balance_by_currency(lines),
        csv_url=f"?{_with_download(request)}",
        accounts_url=reverse("admin:revenue_ledgeraccount_changelist"),
    )


def _with_download(request: HttpRequest) -> str:
    query = request.GET.copy()
    query["download"] = "csv"
    return query.urlencode()


class TrialBalanceForm(forms.Form):
    """One month (``period``, as YYYY-MM) or everything through a date; today by default."""

    period = forms.DateField(
        required=False,
        label="One month",
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )
    through = forms.DateField(required=False, label="Cumulative through", widget=date_input())

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("period") and cleaned.get("through"):
            raise ValidationError("Choose one month or a date to run through, not both.")
        return cleaned


TRIAL_BALANCE_CSV_HEADER = ["account", "account_name", "currency", "debit", "credit", "balance"]


@dataclass(frozen=True)
class BalanceLine:
    """An account's debits and credits in one currency, and its balance (debit positive)."""

    account: LedgerAccount
    debit: Money
    credit: Money

    @property
    def currency(self) -> str:
        return self.debit.currency.code

    @property
    def figures(self) -> dict[str, str]:
        balance = self.debit - self.credit
        sides = {1: "Dr", -1: "Cr", 0: ""}
        return {
            "debit": figure(self.debit),
            "credit": figure(self.credit),
            "balance": figure(abs(balance)),
            "side": sides[(balance.amount > 0) - (balance.amount < 0)],
        }

    def csv_row(self) -> list[str]:
        return [
            self.account.code,
            self.account.name,
            self.currency,
            f"{round_money(self.debit).amount}",
            f"{round_money(self.credit).amount}",
            f"{round_money(self.debit - self.credit).amount}",
        ]


@dataclass(frozen=True)
class CurrencyBalance:
    """One currency's part of the trial balance: its lines and their totals."""

    currency: str
    lines: list[BalanceLine]
    debit: Money
    credit: Money

    @property
    def balanced(self) -> bool:
        return self.debit == self.credit

    @property
    def figures(self) -> dict[str, str]:
        return {"debit": figure(self.debit), "credit": figure(self.credit)}


def balance_by_currency(lines: list[BalanceLine]) -> list[CurrencyBalance]:
    """Total the lines per currency: debits and credits are only ever added within one."""
    grouped: dict[str, list[BalanceLine]] = defaultdict(list)
    for line in lines:
        grouped[line.currency].append(line)
    return [
        CurrencyBalance(
            currency=currency,
            lines=group,
            debit=sum((line.debit for line in group), Money(0, currency)),
            credit=sum((line.credit for line in group), Money(0, currency)),
        )
        for currency, group in sorted(grouped.items())
    ]
