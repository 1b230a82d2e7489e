"""Billing follows a contract modification from its effective date: proration, credits.

The contract of these examples: 10 seats x 100.00 USD a month, billed monthly in advance from
1 April 2026 (April has 30 days) to 31 March 2027, on the anniversary (the 1st).
"""

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
import time_machine
from django.core.exceptions import ValidationError
from djmoney.money import Money
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import BillingEvent, CreditNote, Invoice, InvoiceLine, ModificationCredit
from billing.modifications import modification_credits_issue
from contracts.models import Contract, Modification, ModificationChange
from contracts.modifications import modification_apply, modification_preview
from rms.money import round_fraction
from tests.billing.conftest import assert_invoiced_events_billed_once

pytestmark = pytest.mark.django_db

Kind = ModificationChange.Kind


def usd(amount) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def seats(contract_factory, contract_line_factory, activate, bill):
    """The 10-seat contract, active, with April billed in advance (1,000.00 on 1 April)."""
    contract = contract_factory(start_date=date(2026, 4, 1), end_date=date(2027, 3, 31))
    line = contract_line_factory(
        contract=contract, quantity=Decimal(10), unit_price=usd("100.00"), sequence=1
    )
    activate(contract)
    bill(date(2026, 4, 1))
    return line


@pytest.fixture
def modify(django_capture_on_commit_callbacks):
    """Create a modification of ``contract`` with ``changes`` and apply it, on-commit work run."""

    def modify(contract, effective, *changes, apply=True, **fields):
        modification = Modification.objects.create(
            contract=contract,
            reference=f"A-{Modification.objects.count() + 1}",
            effective_date=effective,
            description="Agreed with the customer",
            **fields,
        )
        for change in changes:
            ModificationChange.objects.create(modification=modification, **change)
        if apply:
            with django_capture_on_commit_callbacks(execute=True):
                modification_apply(modification=modification, by="finance")
            modification.refresh_from_db()
        return modification

    return modify


def invoice_amounts(run) -> list[Money]:
    return sorted(
        line.amount for line in InvoiceLine.objects.filter(invoice__in=run.invoices.all())
    )


def test_mid_period_seat_increase_bills_the_added_seats_remainder_then_the_new_quantity(
    seats, modify, bill
):
    modify(
        seats.contract,
        date(2026, 4, 16),
        {"kind": Kind.CHANGE_QUANTITY, "line": seats, "quantity": Decimal(15)},
    )

    seats.refresh_from_db()
    successor = seats.continued_by.get()
    assert (seats.service_end, successor.service_start) == (date(2026, 4, 15), date(2026, 4, 16))
    # The old line's April stays invoiced as billed: 10 x 100.00 = 1,000.00.
    april = seats.billing_events.get(period_start=date(2026, 4, 1))
    assert (april.status, april.amount) == (BillingEvent.Status.INVOICED, usd("1000.00"))

    # 16-30 April is 15 of April's 30 days. The new line bills 15 x 100 x 15/30 = 750.00, less
    # the 10 x 100 x 15/30 = 500.00 already billed for those days: 5 x 100 x 15/30 = 250.00.
    run = bill(date(2026, 4, 16))
    assert invoice_amounts(run) == [usd("250.00")]
    assert invoice_amounts(bill(date(2026, 4, 16))) == []  # a second run bills nothing again
    # From May, 15 x 100.00 = 1,500.00 a month, on the contract's cycle (the 1st).
    run = bill(date(2026, 5, 1))
    assert invoice_amounts(run) == [usd("1500.00")]
    may = successor.billing_events.get(period_start=date(2026, 5, 1))
    assert (may.period_end, may.quantity) == (date(2026, 5, 31), Decimal(15))
    assert not CreditNote.objects.exists()
    assert_invoiced_events_billed_once()


def test_price_decrease_mid_period_billed_in_advance_credits_the_unused_difference(
    seats, modify, bill
):
    modification = modify(
        seats.contract,
        date(2026, 4, 16),
        {"kind": Kind.CHANGE_PRICE, "line": seats, "unit_price": usd("80.00")},
    )

    # Billed for 16-30 April: 10 x 100 x 15/30 = 500.00; the new price charges
    # 10 x 80 x 15/30 = 400.00; nothing more to bill, 100.00 to credit.
    note = CreditNote.objects.get()
    assert (note.status, note.subtotal) == (CreditNote.Status.ISSUED, usd("100.00"))
    assert note.invoice.lines.get().event.period_start == date(2026, 4, 1)
    assert invoice_amounts(bill(date(2026, 4, 16))) == []
    # May at the new price: 10 x 80.00 = 800.00.
    assert invoice_amounts(bill(date(2026, 5, 1))) == [usd("800.00")]

    # The follow-up again (a redelivered signal, a retry): nothing more is credited.
    assert modification_credits_issue(modification_id=modification.pk) == []
    assert ModificationCredit.objects.get().amount == usd("100.00")
    assert CreditNote.objects.count() == 1


def test_term_extension_bills_the_extra_months(seats, modify, bill):
    modify(
        seats.contract,
        date(2026, 4, 16),
        {"kind": Kind.CHANGE_TERM, "new_end_date": date(2027, 6, 30)},
    )

    seats.refresh_from_db()
    assert seats.contract.end_date == seats.service_end == date(2027, 6, 30)
    # April 2026 to June 2027 is 15 months of 1,000.00; April is invoiced, 14 are to come.
    pending = seats.billing_events.filter(status=BillingEvent.Status.PENDING)
    assert pending.count() == 14
    assert {e.amount for e in pending} == {usd("1000.00")}
    assert pending.order_by("period_start").last().period_end == date(2027, 6, 30)


def test_shortening_credits_the_prepaid_days_past_the_new_end(seats, modify, bill):
    bill(date(2026, 5, 1))  # May billed in advance: 1,000.00 for 1-31 May.
    modify(
        seats.contract,
        date(2026, 5, 1),
        {"kind": Kind.CHANGE_TERM, "new_end_date": date(2026, 5, 20)},
    )

    # May has 31 days; 21-31 May (11 days) are no longer served:
    # 1,000.00 x 11/31 = 354.838... -> 354.84 credited.
    note = CreditNote.objects.get()
    assert note.subtotal == usd("354.84")
    assert not seats.billing_events.filter(status=BillingEvent.Status.PENDING).exists()


def test_early_termination_with_refund_credits_the_unused_prepaid_part(seats, modify, bill):
    modify(seats.contract, date(2026, 4, 21), {"kind": Kind.TERMINATE}, refund_on_termination=True)

    contract = Contract.objects.get(pk=seats.contract_id)
    assert (contract.status, contract.terminated_on, contract.end_date) == (
        Contract.Status.TERMINATED,
        date(2026, 4, 21),
        date(2026, 4, 20),
    )
    # 21-30 April, 10 of April's 30 days: 1,000.00 x 10/30 = 333.33 credited.
    assert CreditNote.objects.get().subtotal == usd("333.33")
    # May onwards was pending and is no longer due.
    assert not BillingEvent.objects.filter(status=BillingEvent.Status.PENDING).exists()
    assert invoice_amounts(bill(date(2026, 5, 1))) == []


def test_a_refund_on_an_invoice_issued_ahead_is_dated_on_that_invoice(seats, modify, bill):
    """May is billed on 28 April by a run for 1 May; the customer terminates from 1 May, with a
    refund, on 29 April. The credit cannot predate the invoice it credits, so it is dated 1 May
    rather than lost (it used to fail after the modification had committed)."""
    with time_machine.travel(datetime(2026, 4, 29, 9, tzinfo=UTC), tick=False):
        [may] = bill(date(2026, 5, 1)).invoices.all()
        modify(
            seats.contract, date(2026, 5, 1), {"kind": Kind.TERMINATE}, refund_on_termination=True
        )

    # All of May, 1,000.00, is unused.
    note = CreditNote.objects.get()
    assert (note.invoice, note.subtotal, note.issue_date) == (may, usd("1000.00"), date(2026, 5, 1))


def test_early_termination_without_refund_keeps_what_was_billed(seats, modify, bill):
    modify(seats.contract, date(2026, 4, 21), {"kind": Kind.TERMINATE})

    assert not CreditNote.objects.exists()
    assert not BillingEvent.objects.filter(status=BillingEvent.Status.PENDING).exists()
    assert Invoice.objects.count() == 1


def test_early_termination_bills_the_served_days_of_an_arrears_period(
    contract_factory, contract_line_factory, activate, bill, modify
):
    contract = contract_factory(start_date=date(2026, 4, 1), end_date=date(2027, 3, 31))
    contract_line_factory(
        contract=contract, quantity=Decimal(10), unit_price=usd("100.00"), bill_timing="arrears"
    )
    activate(contract)
    modify(contract, date(2026, 4, 21), {"kind": Kind.TERMINATE})

    # 1-20 April served, billed in arrears the day after: 1,000.00 x 20/30 = 666.67.
    assert invoice_amounts(bill(date(2026, 4, 21))) == [usd("666.67")]
    assert invoice_amounts(bill(date(2026, 5, 1))) == []


def test_added_lines_at_ssp_form_a_separate_contract_with_its_own_billing(
    seats, modify, bill, product_factory
):
    addon = product_factory(ssp=usd("40.00"))
    modification = modify(
        seats.contract,
        date(2026, 4, 16),
        {
            "kind": Kind.ADD_LINE,
            "product": addon,
            "billing_model": "subscription",
            "quantity": Decimal(2),
            "unit_price": usd("40.00"),
            "interval_months": 1,
            "bill_timing": "advance",
            "bill_day_mode": "anniversary",
        },
    )

    separate = modification.separate_contract
    assert modification.treatment == "separate_contract"
    assert separate.number == f"{seats.contract.number}-M1"
    assert (separate.status, separate.start_date, separate.end_date) == (
        Contract.Status.ACTIVE,
        date(2026, 4, 16),
        date(2027, 3, 31),
    )
    assert seats.contract.lines.count() == 1
    # Its own cycle from 16 April: 2 x 40.00 = 80.00 a month.
    run = bill(date(2026, 4, 16))
    invoice = run.invoices.get()
    assert invoice.lines.get().contract_line.contract == separate
    assert invoice.total == usd("80.00")


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    day=st.integers(min_value=2, max_value=30),
    quantity=st.integers(min_value=1, max_value=30),
    price=st.decimals(min_value=1, max_value=300, places=2),
)
def test_property_a_changed_period_costs_old_terms_then_new_terms_rounded_once(
    contract_factory, contract_line_factory, activate, bill, modify, day, quantity, price
):
    """Whatever the day, quantity and price, April costs the old terms up to the effective date
    and the new ones from it, prorated by days and rounded once: what was invoiced for April,
    less what was credited on it, is exactly that."""
    contract = contract_factory(start_date=date(2026, 4, 1), end_date=date(2027, 3, 31))
    line = contract_line_factory(contract=contract, quantity=Decimal(10), unit_price=usd("100"))
    activate(contract)
    bill(date(2026, 4, 1))
    changes = [
        {"kind": Kind.CHANGE_QUANTITY, "line": line, "quantity": Decimal(quantity)},
        {"kind": Kind.CHANGE_PRICE, "line": line, "unit_price": usd(price)},
    ]
    modify(contract, date(2026, 4, day), *changes)
    bill(date(2026, 4, 30))

    april = InvoiceLine.objects.filter(
        contract_line__contract=contract, period_start__lt=date(2026, 5, 1)
    )
    billed = sum((invoice_line.amount for invoice_line in april), usd(0))
    credited = sum(
        (c.amount for c in ModificationCredit.objects.filter(invoice_line__in=april)), usd(0)
    )
    old_days, new_days = day - 1, 31 - day
    expected = Fraction(1000 * old_days, 30) + Fraction(quantity) * Fraction(price) * new_days / 30
    assert billed - credited == round_fraction(expected, "USD")


def test_a_second_decrease_in_the_same_period_credits_only_its_own_difference(seats, modify, bill):
    first = modify(
        seats.contract,
        date(2026, 4, 11),
        {"kind": Kind.CHANGE_QUANTITY, "line": seats, "quantity": Decimal(8)},
    )
    # 11-30 April is 20 days: billed 10 x 100 x 20/30 = 666.67, now worth 8 x 100 x 20/30 =
    # 533.33: 133.33 credited (1,000.00 stays billed less the credit: 866.67 for April).
    assert ModificationCredit.objects.get(modification=first).amount == usd("133.33")
    successor = seats.continued_by.get()
    second = modify(
        seats.contract,
        date(2026, 4, 21),
        {"kind": Kind.CHANGE_QUANTITY, "line": successor, "quantity": Decimal(5)},
    )
    # April is now 10 seats for 10 days, 8 for 10, 5 for 10: 100 x (100 + 80 + 50) / 30 =
    # 766.666... -> 766.67 kept; 1,000.00 - 766.67 = 233.33 credited in all, 100.00 of it now.
    assert ModificationCredit.objects.get(modification=second).amount == usd("100.00")
    assert sum(c.amount for c in ModificationCredit.objects.all()) == usd("233.33")
    assert invoice_amounts(bill(date(2026, 4, 30))) == []
    assert invoice_amounts(bill(date(2026, 5, 1))) == [usd("500.00")]  # 5 x 100.00


def test_terminating_after_a_seat_increase_refunds_across_both_lines(seats, modify, bill):
    modify(
        seats.contract,
        date(2026, 4, 16),
        {"kind": Kind.CHANGE_QUANTITY, "line": seats, "quantity": Decimal(15)},
    )
    bill(date(2026, 4, 16))  # 250.00 for the added seats' 16-30 April
    modify(seats.contract, date(2026, 4, 26), {"kind": Kind.TERMINATE}, refund_on_termination=True)

    # April was billed 1,000.00 (10 seats) + 250.00 (5 seats from the 16th) = 1,250.00. It is
    # now worth 10 seats x 15 days + 15 seats x 10 days = 300 seat-days x 100/30 = 1,000.00:
    # 250.00 (= 15 x 100 x 5/30 for 26-30 April) is credited, from the latest invoice first.
    credit = ModificationCredit.objects.get()
    assert credit.amount == usd("250.00")
    assert credit.invoice_line.event.line == seats.continued_by.get()
    assert CreditNote.objects.count() == 1


def test_preview_shows_the_prorated_charge_and_the_credit(
    seats, django_capture_on_commit_callbacks
):
    increase = Modification.objects.create(
        contract=seats.contract, reference="A-1", effective_date=date(2026, 4, 16), description="x"
    )
    ModificationChange.objects.create(
        modification=increase, kind=Kind.CHANGE_QUANTITY, line=seats, quantity=Decimal(15)
    )
    billing = dict(modification_preview(modification=increase).billing)
    assert billing["Charges from the effective date"] == [
        f"Line 2 {seats.product.name}: 16 Apr 2026 \u2013 30 Apr 2026 (prorated 15/30 days), less "
        "500.00 USD billed before the change: 250.00 USD, billed on 2026-04-16"
    ]
    assert billing["Credit notes"] == ["Nothing to credit."]

    termination = Modification.objects.create(
        contract=seats.contract,
        reference="A-2",
        effective_date=date(2026, 4, 21),
        description="x",
        refund_on_termination=True,
    )
    ModificationChange.objects.create(modification=termination, kind=Kind.TERMINATE)
    credits = dict(modification_preview(modification=termination).billing)["Credit notes"]
    assert len(credits) == 1 and credits[0].endswith(": 333.33 USD")
    assert not CreditNote.objects.exists()  # a preview issues nothing


def test_shortening_to_before_the_effective_date_is_refused(seats, modify):
    with pytest.raises(ValidationError) as caught:
        modify(
            seats.contract,
            date(2026, 5, 1),
            {"kind": Kind.CHANGE_TERM, "new_end_date": date(2026, 4, 20)},
        )
    assert "terminate" in caught.value.message_dict["new_end_date"][0]
    seats.refresh_from_db()
    assert seats.service_end == date(2027, 3, 31) and not CreditNote.objects.exists()


def test_an_evergreen_contract_terminated_ends_and_stops_billing(
    contract_factory, contract_line_factory, activate, bill, modify
):
    contract = contract_factory(start_date=date(2026, 4, 1), end_date=None, evergreen=True)
    contract_line_factory(contract=contract, service_end=None, unit_price=usd("100"))
    activate(contract)
    bill(date(2026, 4, 1))
    modify(contract, date(2026, 6, 1), {"kind": Kind.TERMINATE})

    contract.refresh_from_db()
    assert (contract.evergreen, contract.end_date, contract.status) == (
        False,
        date(2026, 5, 31),
        Contract.Status.TERMINATED,
    )
    assert invoice_amounts(bill(date(2026, 5, 1))) == [usd("100.00")]  # May, served
    assert invoice_amounts(bill(date(2026, 6, 1))) == []


def test_a_one_time_line_invoiced_on_order_cannot_change_in_place(
    contract_factory, contract_line_factory, activate, bill, modify
):
    contract = contract_factory(start_date=date(2026, 4, 1), end_date=date(2027, 3, 31))
    setup = contract_line_factory(contract=contract, one_time=True, unit_price=usd("500"))
    activate(contract)
    bill(date(2026, 4, 1))
    with pytest.raises(ValidationError) as caught:
        modify(
            contract,
            date(2026, 5, 1),
            {"kind": Kind.CHANGE_PRICE, "line": setup, "unit_price": usd("400")},
        )
    assert "credit the invoice" in caught.value.message_dict["line"][0]
    setup.refresh_from_db()
    assert setup.unit_price == usd("500")


def test_a_discounted_added_line_joins_the_contract_on_its_cycle(
    seats, modify, bill, product_factory
):
    addon = product_factory(ssp=usd("40.00"))
    modification = modify(
        seats.contract,
        date(2026, 4, 16),
        {
            "kind": Kind.ADD_LINE,
            "product": addon,
            "billing_model": "subscription",
            "quantity": Decimal(2),
            "unit_price": usd("35.00"),
            "interval_months": 1,
            "bill_timing": "advance",
            "bill_day_mode": "anniversary",
        },
    )

    # Below its SSP (40.00), so not a separate contract: prospective, on the same contract.
    assert modification.treatment == "prospective" and modification.separate_contract is None
    added = modification.changes.get().result_line
    assert added.contract_id == seats.contract_id and added.billing_anchor == date(2026, 4, 1)
    # 16-30 April on the contract's cycle: 2 x 35.00 x 15/30 = 35.00; then 70.00 a month with
    # the seats' 1,000.00 on one invoice.
    assert invoice_amounts(bill(date(2026, 4, 16))) == [usd("35.00")]
    assert invoice_amounts(bill(date(2026, 5, 1))) == [usd("70.00"), usd("1000.00")]


def test_a_separate_contract_takes_the_next_free_number(
    seats, modify, product_factory, contract_factory
):
    contract_factory(number=f"{seats.contract.number}-M1", customer=seats.contract.customer)
    addon = product_factory(ssp=usd("40.00"))
    modification = modify(
        seats.contract,
        date(2026, 4, 16),
        {
            "kind": Kind.ADD_LINE,
            "product": addon,
            "quantity": Decimal(1),
            "unit_price": usd("40.00"),
            "interval_months": 1,
            "bill_timing": "advance",
            "bill_day_mode": "anniversary",
        },
    )
    assert modification.separate_contract.number == f"{seats.contract.number}-M2"


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(
        st.tuples(st.integers(min_value=2, max_value=30), st.integers(min_value=1, max_value=25)),
        min_size=1,
        max_size=3,
        unique_by=lambda step: step[0],
    ),
    run_between=st.booleans(),
)
def test_property_any_sequence_of_seat_changes_bills_each_day_at_its_seats(
    contract_factory, contract_line_factory, activate, bill, modify, steps, run_between
):
    """After any sequence of seat changes in a month billed in advance (with or without bill
    runs between them), what stays billed for the month is each day at the seats in effect
    that day, to within a cent per invoice line that billed it (each line is rounded once)."""
    contract = contract_factory(start_date=date(2026, 4, 1), end_date=date(2027, 3, 31))
    line = contract_line_factory(contract=contract, quantity=Decimal(10), unit_price=usd("100"))
    activate(contract)
    bill(date(2026, 4, 1))
    seats_from = {1: 10}
    for day, quantity in sorted(steps):
        modify(
            contract,
            date(2026, 4, day),
            {"kind": Kind.CHANGE_QUANTITY, "line": line, "quantity": Decimal(quantity)},
        )
        line = line.continued_by.get()
        seats_from[day] = quantity
        if run_between:
            bill(date(2026, 4, day))
    bill(date(2026, 4, 30))

    april = InvoiceLine.objects.filter(
        contract_line__contract=contract, period_start__lt=date(2026, 5, 1)
    )
    kept = sum((il.amount for il in april), usd(0)) - sum(
        (c.amount for c in ModificationCredit.objects.filter(invoice_line__in=april)), usd(0)
    )
    starts = sorted(seats_from)
    exact = sum(
        Fraction(100 * seats_from[start] * (end - start), 30)
        for start, end in zip(starts, [*starts[1:], 31], strict=True)
    )
    assert abs(kept.amount - round_fraction(exact, "USD").amount) <= Decimal("0.01") * len(april)


def test_a_decrease_then_an_increase_in_one_period_bills_the_difference(seats, modify, bill):
    modify(
        seats.contract,
        date(2026, 4, 11),
        {"kind": Kind.CHANGE_QUANTITY, "line": seats, "quantity": Decimal(8)},
    )
    # 11-30 April, 20 days: 10 x 100 x 20/30 - 8 x 100 x 20/30 = 133.33 credited.
    assert ModificationCredit.objects.get().amount == usd("133.33")
    modify(
        seats.contract,
        date(2026, 4, 21),
        {"kind": Kind.CHANGE_QUANTITY, "line": seats.continued_by.get(), "quantity": Decimal(12)},
    )
    # 21-30 April at 12 seats is worth 12 x 100 x 10/30 = 400.00. Paid already for those days:
    # April's 1,000.00 less the 133.33 credit, less 1-10 April at 10 seats (333.33) and 11-20 at
    # 8 (266.67) = 266.67. Billed on the next run: 400.00 - 266.67 = 133.33; April in all
    # 1,000.00 - 133.33 + 133.33 = 1,000.00 = (10 + 8 + 12) seats x 10 days x 100/30.
    assert invoice_amounts(bill(date(2026, 4, 21))) == [usd("133.33")]
    assert ModificationCredit.objects.count() == 1
