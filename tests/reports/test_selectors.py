"""The reports' figures on hand-worked books run through the real billing and revenue engines.

The brief's example is a 12,000.00 annual subscription billed in advance. RMS recognizes
"ratable" by days (ASC 606's even pattern for a service delivered evenly), not 1,000.00 a
month: 12,000.00 over 2026's 365 days gives, in cents (1,200,000 x days / 365):
  31-day months 101,917.808 -> floor 101,917, +1 cent for the .808 remainder = 1,019.18 (x7)
  February      92,054.794  -> 920.54 (its .794 remainder is below the seven .808s)
  30-day months 98,630.137  -> 986.30 (x4)
  7 x 1,019.18 + 920.54 + 4 x 986.30 = 7,134.26 + 920.54 + 3,945.20 = 12,000.00.
"""

from datetime import date

import pytest
from djmoney.money import Money

from contracts.models import BillTiming, Contract
from reports.selectors import (
    billings_by_month,
    bookings_by_month,
    deferred_revenue_rollforward,
    remaining_obligations,
    revenue_waterfall,
)

pytestmark = pytest.mark.django_db

JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)
# The 2026 ratable months of 12,000.00, worked out in the module docstring.
RATABLE_2026 = [
    "1019.18", "920.54", "1019.18", "986.30", "1019.18", "986.30",
    "1019.18", "1019.18", "986.30", "1019.18", "986.30", "1019.18",
]  # fmt: skip


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


@pytest.fixture
def billed_annual(annual_deal, activate, bill, recognize):
    """The brief's deal: 12,000.00 billed on 1 January 2026, recognized through January."""
    contract = annual_deal("12000.00")
    activate(contract)
    bill(JAN)
    recognize(date(2026, 1, 31))
    return contract


# --- Waterfall ------------------------------------------------------------------------------------


def test_waterfall_of_the_annual_deal_is_its_ratable_schedule_month_by_month(billed_annual):
    [table] = revenue_waterfall(as_of=date(2026, 1, 15))

    assert table.currency == "USD"
    assert table.months[0] == JAN and table.months[-1] == date(2026, 12, 1)
    [row] = table.rows
    assert row.contract == billed_annual.number
    # January counts although it is recognized already: the waterfall starts at the as-of month.
    assert row.amounts == (*map(usd, RATABLE_2026), usd("0.00"))
    assert row.total == table.total == usd("12000.00")


def test_waterfall_from_mid_year_shows_only_what_is_left(billed_annual):
    [table] = revenue_waterfall(as_of=date(2026, 7, 10))

    # July to December: 4 x 1,019.18 + 2 x 986.30 = 4,076.72 + 1,972.60 = 6,049.32; then 2027.
    assert table.totals[:6] == tuple(map(usd, RATABLE_2026[6:]))
    assert table.totals[6:] == (usd("0.00"),) * 7
    assert table.total == usd("6049.32")


def test_waterfall_puts_the_months_after_the_twelfth_under_later(
    contract_factory, contract_line_factory, product_factory, activate
):
    # 24,000.00 over 2026-2027 (730 days): each month's exact share is the same as in the
    # one-year example (2,400,000 x 31 / 730 = 101,917.808 cents...), and the 14 leftover
    # cents go to the 14 months of 31 days, so each year sums to 12,000.00 exactly.
    contract = contract_factory(end_date=date(2027, 12, 31))
    contract_line_factory(
        contract=contract, interval_months=12, unit_price=usd("12000.00"), product=product_factory()
    )
    activate(contract)

    [table] = revenue_waterfall(as_of=date(2026, 1, 1))

    assert table.totals[:12] == tuple(map(usd, RATABLE_2026))
    assert table.totals[12] == usd("12000.00")
    assert table.total == usd("24000.00")


def test_waterfall_keeps_currencies_apart_and_filters_them(annual_deal, activate):
    activate(annual_deal("12000.00"), annual_deal("6000.00", currency="EUR", interval_months=3))

    tables = {table.currency: table for table in revenue_waterfall(as_of=JAN)}

    assert set(tables) == {"EUR", "USD"}
    assert tables["USD"].total == usd("12000.00")
    assert tables["EUR"].total == eur("6000.00")
    [only] = revenue_waterfall(as_of=JAN, currency="EUR")
    assert only.currency == "EUR" and only.total == eur("6000.00")


def test_waterfall_filters_by_customer(annual_deal, activate, customer_factory):
    mine, theirs = customer_factory(), customer_factory()
    activate(annual_deal("12000.00", customer=mine), annual_deal("3650.00", customer=theirs))

    [table] = revenue_waterfall(as_of=JAN, customer_id=theirs.pk)

    [row] = table.rows
    assert row.customer == theirs.legal_name
    # 3,650.00 / 365 = exactly 10.00 a day: 310.00 in January, 280.00 in February.
    assert row.amounts[:2] == (usd("310.00"), usd("280.00"))
    assert row.total == usd("3650.00")


# --- Deferred revenue roll-forward ---------------------------------------------------------------


def test_roll_forward_of_the_annual_deal(billed_annual, recognize):
    recognize(date(2026, 2, 28))

    [january, february] = deferred_revenue_rollforward(first=JAN, last=FEB)["USD"]

    # January: 0 + 12,000.00 billed - 1,019.18 earned = 10,980.82 deferred.
    assert (january.opening, january.billings, january.revenue, january.closing) == (
        usd("0"),
        usd("12000.00"),
        usd("1019.18"),
        usd("10980.82"),
    )
    # February: 10,980.82 + 0 - 920.54 = 10,060.28.
    assert (february.opening, february.billings, february.revenue, february.closing) == (
        usd("10980.82"),
        usd("0"),
        usd("920.54"),
        usd("10060.28"),
    )
    assert (february.deferred, february.unbilled) == (usd("10060.28"), usd("0"))


def test_roll_forward_opens_with_the_balance_before_its_first_month(billed_annual, recognize):
    recognize(date(2026, 2, 28))

    [february] = deferred_revenue_rollforward(first=FEB, last=FEB)["USD"]

    assert february.opening == usd("10980.82")
    assert february.closing == usd("10060.28")


def test_roll_forward_splits_the_closing_balance_into_deferred_and_unbilled(
    billed_annual, contract_line_factory, product_factory, activate, recognize
):
    # A second contract billed quarterly in arrears: January is earned but not billed until
    # 31 March, an asset of 12,000 x 31 / 365 = 1,019.18 (same shares as the annual deal).
    arrears = contract_line_factory(
        interval_months=3,
        unit_price=usd("3000.00"),
        bill_timing=BillTiming.ARREARS,
        product=product_factory(),
    )
    activate(arrears.contract)
    recognize(date(2026, 1, 31))

    [january] = deferred_revenue_rollforward(first=JAN, last=JAN)["USD"]

    # Revenue 1,019.18 on each contract: 0 + 12,000.00 - 2,038.36 = 9,961.64, which nets the
    # annual deal's 10,980.82 liability against the arrears contract's 1,019.18 asset.
    assert january.revenue == usd("2038.36")
    assert january.closing == usd("9961.64")
    assert (january.deferred, january.unbilled) == (usd("10980.82"), usd("1019.18"))
    assert january.closing == january.deferred - january.unbilled


def test_a_credit_note_is_negative_billings_and_its_reversal_negative_revenue(credited_hardware):
    [january, february] = deferred_revenue_rollforward(first=JAN, last=FEB)["USD"]

    # January: 0 + 1,000.00 - 1,000.00 = 0. February: the credit note takes back 200.00 of
    # billings and the transaction price falls to 800.00, reversing 200.00 of revenue as a
    # catch-up in February (January is closed): 0 + (-200.00) - (-200.00) = 0.
    assert (january.billings, january.revenue, january.closing) == (
        usd("1000.00"),
        usd("1000.00"),
        usd("0"),
    )
    assert (february.billings, february.revenue, february.closing) == (
        usd("-200.00"),
        usd("-200.00"),
        usd("0"),
    )


# --- Billings and bookings ------------------------------------------------------------------------


def test_billings_are_invoices_less_credit_notes_by_month(credited_hardware):
    [january, february] = billings_by_month(first=JAN, last=FEB)["USD"]

    assert (january.invoiced, january.credited, january.net) == (
        usd("1000.00"),
        usd("0"),
        usd("1000.00"),
    )
    assert (february.invoiced, february.credited, february.net) == (
        usd("0"),
        usd("-200.00"),
        usd("-200.00"),
    )
    # The same figures as the roll-forward's billings column.
    rolled = deferred_revenue_rollforward(first=JAN, last=FEB)["USD"]
    assert [m.net for m in (january, february)] == [m.billings for m in rolled]


def test_billings_per_currency(annual_deal, activate, bill):
    activate(annual_deal("12000.00"), annual_deal("6000.00", currency="EUR", interval_months=3))
    bill(JAN)

    found = billings_by_month(first=JAN, last=JAN)

    # The EUR deal bills its first quarter, 6,000 / 4 = 1,500.00, in advance.
    assert found["USD"][0].net == usd("12000.00")
    assert found["EUR"][0].net == eur("1500.00")
    assert list(billings_by_month(first=JAN, last=JAN, currency="EUR")) == ["EUR"]


def test_bookings_count_active_signed_contracts_at_their_transaction_price(
    annual_deal, activate, contract_factory
):
    activate(
        annual_deal("12000.00", signed=date(2025, 12, 15)),
        annual_deal("3000.00", signed=date(2025, 12, 31)),
        annual_deal("6000.00", currency="EUR", signed=date(2026, 1, 20), interval_months=3),
        # Not bookings: a contract never signed, and a signed one still in draft.
        annual_deal("99000.00", signed=None),
    )
    annual_deal("50000.00", signed=date(2025, 12, 1))
    assert Contract.objects.filter(status=Contract.Status.DRAFT).count() == 1

    found = bookings_by_month(first=date(2025, 12, 1), last=JAN)

    [december, january] = found["USD"]
    assert (december.contracts, december.value) == (2, usd("15000.00"))
    assert (january.contracts, january.value) == (0, usd("0"))
    assert [(m.contracts, m.value) for m in found["EUR"]] == [(0, eur("0")), (1, eur("6000.00"))]


# --- RPO ------------------------------------------------------------------------------------------


def test_rpo_of_the_annual_deal_is_what_is_left_all_within_twelve_months(billed_annual):
    [row] = remaining_obligations(as_of=date(2026, 1, 31))["USD"]

    # 12,000.00 - 1,019.18 recognized in January = 10,980.82, all of it earned by December.
    assert (row.transaction_price, row.recognized, row.remaining) == (
        usd("12000.00"),
        usd("1019.18"),
        usd("10980.82"),
    )
    assert (row.within_12_months, row.later) == (usd("10980.82"), usd("0.00"))


def test_rpo_splits_within_twelve_months_and_beyond(
    contract_factory, contract_line_factory, product_factory, activate, bill, recognize
):
    contract = contract_factory(end_date=date(2027, 12, 31))
    contract_line_factory(
        contract=contract, interval_months=12, unit_price=usd("12000.00"), product=product_factory()
    )
    activate(contract)
    bill(JAN)
    recognize(date(2026, 1, 31))

    [row] = remaining_obligations(as_of=date(2026, 1, 31))["USD"]

    # 24,000.00 - 1,019.18 = 22,980.82 left. Within 12 months of 31 January 2026: February 2026
    # to January 2027 = (12,000.00 - 1,019.18) + 1,019.18 = 12,000.00; beyond: 10,980.82.
    assert row.remaining == usd("22980.82")
    assert (row.within_12_months, row.later) == (usd("12000.00"), usd("10980.82"))


def test_rpo_leaves_out_contracts_with_nothing_left(billed_annual, recognize):
    recognize(date(2026, 12, 31))

    assert remaining_obligations(as_of=date(2026, 12, 31)) == {}


def test_roll_forward_billings_and_bookings_filter_by_customer(
    annual_deal, activate, bill, recognize, customer_factory
):
    mine, theirs = customer_factory(), customer_factory()
    activate(annual_deal("12000.00", customer=mine), annual_deal("3650.00", customer=theirs))
    bill(JAN)
    recognize(date(2026, 1, 31))
    scope = {"first": JAN, "last": JAN, "customer_id": theirs.pk}

    [january] = deferred_revenue_rollforward(**scope)["USD"]
    # 3,650.00 billed on 1 January, 31 days x 10.00 earned: 0 + 3,650.00 - 310.00 = 3,340.00.
    assert (january.billings, january.revenue, january.closing) == (
        usd("3650.00"),
        usd("310.00"),
        usd("3340.00"),
    )
    assert billings_by_month(**scope)["USD"][0].net == usd("3650.00")
    assert bookings_by_month(**{**scope, "first": date(2025, 12, 1)})["USD"][0].value == usd(
        "3650.00"
    )
