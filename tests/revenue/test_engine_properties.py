"""Invariants of the revenue engine for any small contract, billed and recognized on any dates.

Each example builds a contract of random subscription (ratable) and one-time (point in time)
lines, with random prices, quantities, SSPs and terms, then bills and recognizes it on random
dates (not always in order) and checks what ASC 606 and double entry require whatever the input:
allocations add up to the transaction price, every entry balances, the position is revenue less
billings, planned and recognized make up the allocation, and over its life each obligation
recognizes exactly what it was allocated. Every example's rows are rolled back.
"""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace
from unittest.mock import patch

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from moneyed import Money

from billing.domain.subscriptions import BillTiming, SubscriptionTerms, subscription_charges
from billing.models import Invoice
from billing.shipments import shipment_record
from revenue.models import Allocation, JournalEntry, JournalLine, RevenueScheduleEntry
from revenue.selectors import position_of, trial_balance
from rms.money import minor_unit_exponent, round_money

pytestmark = pytest.mark.django_db

ORIGIN = date(2026, 1, 1)
Status = RevenueScheduleEntry.Status


def amounts(code: str, low: int, high: int):
    """Draw amounts on the currency's minor unit between ``low`` and ``high`` major units."""
    exponent = minor_unit_exponent(code)
    return st.integers(low * 10**exponent, high * 10**exponent).map(
        lambda units: Decimal(units).scaleb(-exponent)
    )


@st.composite
def lines(draw, code: str, term_days: int):
    """Draw a subscription over the term, or a one-time item billed on order or on shipment.

    A shipped item ships in up to three parts, on days counted from its start.
    """
    kind = draw(st.sampled_from(["subscription", "one_time", "shipped"]))
    spec = {
        "kind": kind,
        "price": draw(amounts(code, 0, 5000)),
        # Zero SSPs now and then: an item with no standalone value gets none of the price.
        "ssp": draw(st.just(Decimal(0)) | amounts(code, 1, 5000)),
        "quantity": draw(
            st.sampled_from([Decimal(1), Decimal(3)]) | st.integers(1, 20).map(Decimal)
        ),
    }
    if kind == "subscription":
        spec["interval_months"] = draw(st.sampled_from([1, 3, 12]))
        spec["bill_timing"] = draw(st.sampled_from(["advance", "arrears"]))
    else:
        spec["start_offset"] = draw(st.integers(0, term_days))
    if kind == "shipped":
        # The parts add up to the whole quantity, so the item is delivered in full.
        units = int(spec["quantity"])
        cuts = sorted(draw(st.lists(st.integers(1, units), max_size=2, unique=True)))
        parts = [b - a for a, b in zip([0, *cuts], [*cuts, units], strict=True) if b > a]
        spec["shipments"] = [(draw(st.integers(0, 400)), Decimal(part)) for part in parts]
    return spec


@st.composite
def contracts(draw):
    code = draw(st.sampled_from(["USD", "JPY", "KWD"]))
    start_offset = draw(st.integers(0, 300) | st.sampled_from([0, 31, 59, 90, 120, 151, 181, 212]))
    term_days = draw(st.integers(0, 500) | st.sampled_from([364, 729]))
    return {
        "code": code,
        "start": ORIGIN + timedelta(days=start_offset),
        "term_days": term_days,
        "lines": draw(st.lists(lines(code, term_days), min_size=1, max_size=4)),
    }


run_dates = st.lists(st.dates(date(2026, 1, 1), date(2028, 6, 30)), min_size=1, max_size=4)


class _Rollback(Exception):
    """Raised to roll an example's rows back, so examples do not see each other's."""


@hypothesis_settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    max_examples=30,
    deadline=None,
)
@given(spec=contracts(), as_ofs=run_dates, close_month=st.none() | st.integers(0, 3))
def test_any_contract_keeps_the_books_whole_on_any_run_dates(
    spec,
    as_ofs,
    close_month,
    customer_factory,
    product_factory,
    contract_factory,
    contract_line_factory,
    activate,
    bill,
    recognize,
    close,
):
    factories = SimpleNamespace(
        customer=customer_factory,
        product=product_factory,
        contract=contract_factory,
        line=contract_line_factory,
    )
    try:
        with transaction.atomic():
            check_contract(spec, as_ofs, close_month, factories, activate, bill, recognize, close)
            raise _Rollback
    except _Rollback:
        pass


def build(spec, factories):
    """Create the contract; return it, its lines' charges over their terms, its shipped lines.

    The charges are the oracle of the transaction price, computed by billing's pure schedule.
    """
    code = spec["code"]
    start = spec["start"]
    end = start + timedelta(days=spec["term_days"])
    contract = factories.contract(
        customer=factories.customer(currency=code), start_date=start, end_date=end
    )
    charges = Money(0, code)
    shipped = []
    for sequence, line in enumerate(spec["lines"], start=1):
        product = factories.product(
            ssp=Money(line["ssp"], code),
            revenue_policy="ratable" if line["kind"] == "subscription" else "point_in_time",
        )
        common = {
            "contract": contract,
            "sequence": sequence,
            "product": product,
            "quantity": line["quantity"],
            "unit_price": Money(line["price"], code),
        }
        if line["kind"] == "subscription":
            factories.line(
                **common,
                interval_months=line["interval_months"],
                bill_timing=line["bill_timing"],
            )
            # Billing's pure schedule says what the whole term charges.
            terms = SubscriptionTerms(
                service_start=start,
                service_end=end,
                interval_months=line["interval_months"],
                bill_day=None,
                timing=BillTiming(line["bill_timing"]),
                quantity=line["quantity"],
                unit_price=line["price"],
                currency=code,
            )
            charged = subscription_charges(terms, through=end + timedelta(days=2))
            charges += sum((charge.amount for charge in charged), Money(0, code))
        else:
            created = factories.line(
                **common,
                one_time=True,
                one_time_trigger="on_shipment" if line["kind"] == "shipped" else "on_order",
                service_start=start + timedelta(days=line["start_offset"]),
            )
            if line["kind"] == "shipped":
                shipped.append(created)
            charges += round_money(line["price"] * line["quantity"], code)
    return contract, charges, shipped


def check_contract(spec, as_ofs, close_month, factories, activate, bill, recognize, close):
    code = spec["code"]
    contract, charges, shipped = build(spec, factories)
    activate(contract)
    last_event = contract.end_date
    for line, spec_line in zip(
        shipped, [line for line in spec["lines"] if line["kind"] == "shipped"], strict=True
    ):
        for offset, quantity in spec_line["shipments"]:
            shipped_on = line.service_start + timedelta(days=offset)
            shipment_record(line=line, shipped_on=shipped_on, quantity=quantity)
            last_event = max(last_event, shipped_on)
    obligations = list(contract.obligations.all())
    assert len(obligations) == len(spec["lines"])
    check_allocation(contract, charges)

    for index, as_of in enumerate(as_ofs):
        bill(as_of)
        if close_month == index:
            # The books' calendar, not the machine's: the month is closed after it has ended.
            with patch("django.utils.timezone.localdate", return_value=date(2099, 1, 1)):
                close(as_of)
        else:
            recognize(as_of)
        check_books(contract, code, as_of)
        check_plan(contract)

    # After every term and shipment, everything billed and recognized: each obligation has
    # earned its allocation, and revenue has caught up with billings exactly.
    last = max([*as_ofs, last_event]) + timedelta(days=40)
    bill(last)
    recognize(last)
    check_allocation(contract, charges)
    for obligation in contract.obligations.all():
        earned = obligation.schedule.filter(status=Status.RECOGNIZED).aggregate(
            total=Sum("amount")
        )["total"] or Decimal(0)
        assert round_money(earned, code) == obligation.allocated, obligation
        assert not obligation.schedule.filter(status=Status.PLANNED).exists()
    final = position_of(contract=contract, as_of=last)
    assert final.revenue == final.billed == charges
    assert final.kind == "none"
    check_books(contract, code, last)


def check_allocation(contract, charges):
    """The obligations share exactly the transaction price: what the lines charge in all."""
    obligations = list(contract.obligations.all())
    assert sum((o.allocated for o in obligations), Money(0, contract.currency)) == charges
    stored = Allocation.objects.filter(contract=contract)
    if not stored.exists():
        # Only an allocation that changes something is stored: all zeros never does.
        assert charges.amount == 0
        return
    latest = stored.latest()
    assert latest.transaction_price == charges
    shares = latest.shares.all()
    assert sum((s.allocated for s in shares), Money(0, contract.currency)) == charges
    assert {s.obligation_id: s.allocated for s in shares} == {
        o.pk: o.allocated for o in obligations
    }


def check_books(contract, code, as_of):
    """Every entry balances; the position is revenue less billings from the source documents."""
    for entry_id, debit, credit in (
        JournalLine.objects.values("entry_id")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
        .values_list("entry_id", "debit", "credit")
    ):
        assert round_money(debit, code) == round_money(credit, code), entry_id
    rows = trial_balance()
    assert {row.currency for row in rows} <= {code}
    assert sum(row.debit for row in rows) == sum(row.credit for row in rows)
    assert all(e.currency == code for e in JournalEntry.objects.all())

    # Revenue from the schedule's recognized entries, billings from the issued invoices (those
    # voided would count back out; none are voided here), each as of its own date.
    zero = Money(0, code)
    revenue = zero
    for amount in RevenueScheduleEntry.objects.filter(
        contract=contract, status=Status.RECOGNIZED, recognized_on__lte=as_of
    ).values_list("amount", flat=True):
        revenue += Money(amount, code)
    billed = sum((i.subtotal for i in Invoice.objects.filter(issue_date__lte=as_of)), zero)
    position = position_of(contract=contract, as_of=as_of)
    assert (position.revenue, position.billed) == (round_money(revenue), billed)
    assert position.net == position.revenue - position.billed
    assert position.asset - position.liability == position.net


def check_plan(contract):
    """A fixed-term obligation's planned and recognized entries make up its allocation."""
    by_obligation = defaultdict(Decimal)
    for obligation_id, amount in RevenueScheduleEntry.objects.filter(contract=contract).values_list(
        "obligation_id", "amount"
    ):
        by_obligation[obligation_id] += amount
    for obligation in contract.obligations.all():
        assert obligation.service_end is not None
        assert round_money(by_obligation[obligation.pk], contract.currency) == obligation.allocated
