"""A mid-term seat increase accounted for prospectively (ASC 606-10-25-13(a)), by hand.

The amendment itself is MODIFICATIONS' (contracts); these tests do to the lines what it does (a
quantity change splits the line at the effective date: the old line ends the day before, a new
line of the same product with the new quantity starts on it) and then announce
``contract_modified`` as it does, so that revenue's side is tested on its own.

Ratable revenue is earned by days, each month on its last day, rounded by the largest remainder
(see test_recognition). 12,000 over 2026's 365 days, in cents 1,200,000 x days / 365:
    Jan 1,019.18  Feb 920.54  Mar 1,019.18  Apr 986.30  May 1,019.18  Jun 986.30  (H1 5,950.68)
    Jul 1,019.18  Aug 1,019.18  Sep 986.30  Oct 1,019.18  Nov 986.30  Dec 1,019.18
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from djmoney.money import Money

from contracts.models import ContractLine
from contracts.services import contract_terms_announce
from contracts.signals import contract_modified
from revenue.models import (
    Allocation,
    JournalLine,
    ModificationTreatment,
    RevenueScheduleEntry,
)
from revenue.receivers import account_for_modification
from rms.money import round_money

pytestmark = pytest.mark.django_db

D = date
Status = RevenueScheduleEntry.Status

H1_RECOGNIZED = [
    (D(2026, 1, 1), "1019.18"),
    (D(2026, 2, 1), "920.54"),
    (D(2026, 3, 1), "1019.18"),
    (D(2026, 4, 1), "986.30"),
    (D(2026, 5, 1), "1019.18"),
    (D(2026, 6, 1), "986.30"),
]


def usd(amount) -> Money:
    return Money(Decimal(amount), "USD")


def split_line(line: ContractLine, *, effective: date, **changes) -> ContractLine:
    """Do to ``line`` what MODIFICATIONS does to a quantity or price change from ``effective``.

    The line ends the day before; a copy with ``changes`` (same product) starts on the date.
    The copy says which line it continues and keeps billing on the old line's cycle, as
    ``contracts.modifications``' split does (``test_modification_applied`` drives that one).
    """
    last = line.contract.lines.order_by("-sequence").first().sequence
    new = ContractLine.objects.get(pk=line.pk)
    new.pk = None
    new.sequence = last + 1
    new.service_start = effective
    new.scheduled_through = None
    new.continues_id = line.pk
    new.billing_anchor = line.billing_anchor or line.service_start
    for field, value in changes.items():
        setattr(new, field, value)
    new.save()
    line.service_end = effective - timedelta(days=1)
    line.save(update_fields=["service_end"])
    return new


def modify(contract, *, modification_id: int, effective: date, treatment: str) -> None:
    """Announce the modification to revenue as MODIFICATIONS does after it commits.

    Revenue's receiver is called directly: the modification ids here are made up, and other
    apps' receivers of the signal look the modification up.
    """
    account_for_modification(
        sender=type(contract),
        contract=contract,
        modification_id=modification_id,
        effective_date=effective,
        treatment=treatment,
    )


def test_revenue_listens_for_contract_modifications():
    uid = "revenue.account_for_modification"
    # Disconnecting says whether it was connected; connect it back as the app does.
    assert contract_modified.disconnect(dispatch_uid=uid)
    contract_modified.connect(account_for_modification, dispatch_uid=uid)


def recognized(obligation) -> list[tuple[date, Money, bool]]:
    """Return an obligation's recognized entries as (period, amount, catch-up), posting order."""
    return [
        (entry.period, entry.amount, entry.catch_up)
        for entry in obligation.schedule.filter(status=Status.RECOGNIZED).order_by("id")
    ]


def by_month(obligation, status=Status.RECOGNIZED) -> dict[date, Money]:
    rows = obligation.schedule.filter(status=status).values("period").annotate(total=Sum("amount"))
    return {row["period"]: round_money(row["total"], "USD") for row in rows}


def assert_balanced() -> None:
    for entry_id, debit, credit in (
        JournalLine.objects.values("entry_id")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
        .values_list("entry_id", "debit", "credit")
    ):
        assert round_money(debit, "USD") == round_money(credit, "USD"), entry_id


def journal_before(period: date) -> list:
    """Return the journal lines of the months before ``period``, to check they never move."""
    return list(
        JournalLine.objects.filter(entry__period__lt=period)
        .order_by("pk")
        .values_list("pk", "account_id", "debit", "credit", "date", "entry__period")
    )


@pytest.fixture
def seats(product_factory, contract_factory, contract_line_factory, activate):
    """10 seats at 100 a seat a month (the SSP) for 2026, recognized ratably: 12,000."""
    contract = contract_factory()
    product = product_factory(name="Seats", ssp=usd("100"), revenue_policy="ratable")
    line = contract_line_factory(
        contract=contract, product=product, quantity=Decimal(10), unit_price=usd("100")
    )
    activate(contract)
    return line


def test_a_seat_increase_from_july_is_earned_over_july_to_december_only(seats, recognize):
    contract = seats.contract
    recognize(D(2026, 6, 30))
    [po] = contract.obligations.all()
    assert recognized(po) == [(period, usd(a), False) for period, a in H1_RECOGNIZED]

    # From 1 July 15 seats, the new ones at SSP: the line is split and the change is distinct
    # from what was served, so it is accounted for prospectively.
    split_line(seats, effective=D(2026, 7, 1), quantity=Decimal(15))
    modify(contract, modification_id=2, effective=D(2026, 7, 1), treatment="prospective")

    # The new line continues the seats' obligation (one promise, re-measured).
    assert contract.obligations.count() == 1
    po.refresh_from_db()
    assert list(po.obligation_lines.values_list("line__quantity", flat=True).order_by("line")) == [
        Decimal(10),
        Decimal(15),
    ]
    # Transaction price: Jan-Jun 6 x 10 x 100 = 6,000, Jul-Dec 6 x 15 x 100 = 9,000: 15,000.
    # Earned before 1 July (frozen): 5,950.68. Remaining consideration (25-13(a)): the old
    # contract's unrecognized 12,000 - 5,950.68 = 6,049.32 plus the 3,000 the five new seats add
    # = 15,000 - 5,950.68 = 9,049.32, all of it to the one remaining obligation.
    assert po.allocated == usd("15000")
    allocation = Allocation.objects.filter(contract=contract).latest()
    assert allocation.transaction_price == usd("15000")
    assert allocation.reason == (
        "Contract terms changed; Modification M-2 effective 2026-07-01, prospective: remaining "
        "9,049.32 allocated to Seats 9,049.32; 5,950.68 earned before it kept"
    )
    # Nothing posts for January to June: no catch-up.
    assert recognized(po) == [(period, usd(a), False) for period, a in H1_RECOGNIZED]
    # 9,049.32 over the 184 days of July to December, in cents 904,932 x days / 184:
    #   31-day: 152,461.89 -> 152,461 (.89); 30-day: 147,543.26 -> 147,543 (.26).
    #   Floors 4 x 152,461 + 2 x 147,543 = 904,930: 2 cents to the largest remainders, the
    #   31-day months earliest first (Jul, Aug). So Jul 1,524.62 Aug 1,524.62 Sep 1,475.43
    #   Oct 1,524.61 Nov 1,475.43 Dec 1,524.61 = 9,049.32.
    second_half = {
        D(2026, 7, 1): usd("1524.62"),
        D(2026, 8, 1): usd("1524.62"),
        D(2026, 9, 1): usd("1475.43"),
        D(2026, 10, 1): usd("1524.61"),
        D(2026, 11, 1): usd("1475.43"),
        D(2026, 12, 1): usd("1524.61"),
    }
    assert by_month(po, Status.PLANNED) == second_half

    recognize(D(2026, 12, 31))
    assert recognize(D(2026, 12, 31)).entries_posted == 0
    months = by_month(po)
    assert {m: a for m, a in months.items() if m >= D(2026, 7, 1)} == second_half
    # Over the year revenue equals the transaction price: 5,950.68 + 9,049.32 = 15,000.
    assert sum(months.values(), usd("0")) == usd("15000")
    assert not po.schedule.filter(status=Status.PLANNED).exists()
    assert_balanced()


def test_the_same_increase_as_a_catch_up_re_measures_the_year_in_the_open_period(
    seats, recognize, close
):
    contract = seats.contract
    close(D(2026, 6, 30))
    [po] = contract.obligations.all()
    closed = journal_before(D(2026, 7, 1))

    split_line(seats, effective=D(2026, 7, 1), quantity=Decimal(15))
    modify(contract, modification_id=3, effective=D(2026, 7, 1), treatment="catch_up")

    # Re-allocated as a whole: 15,000 over the year by days. January to June should have
    # earned 1,500,000 x 181 / 365 cents = 7,438.36 (largest remainder: Jan 1,273.97, Feb
    # 1,150.69, Mar 1,273.97, Apr 1,232.88, May 1,273.97, Jun 1,232.88), 1,487.68 more than the
    # 5,950.68 recognized. June is closed, so it posts as a catch-up on 1 July.
    po.refresh_from_db()
    assert po.allocated == usd("15000")
    [catch_up] = po.schedule.filter(status=Status.RECOGNIZED, period=D(2026, 7, 1))
    assert (catch_up.amount, catch_up.catch_up) == (usd("1487.68"), True)
    assert catch_up.description == (
        "Seats: catch-up for closed periods, posted in Jul 2026 "
        "(Modification M-3 effective 2026-07-01, cumulative catch-up)"
    )
    assert catch_up.journal_entry.description == catch_up.description
    assert (
        Allocation.objects.filter(contract=contract)
        .latest()
        .reason.startswith("Modification M-3 effective 2026-07-01, cumulative catch-up")
    )
    # The closed months are as they were.
    assert journal_before(D(2026, 7, 1)) == closed
    recognize(D(2026, 12, 31))
    assert sum(by_month(po).values(), usd("0")) == usd("15000")
    assert_balanced()


def test_new_seats_below_ssp_spread_the_remaining_consideration_over_all_remaining_seats(
    seats, product_factory, contract_line_factory, recognize
):
    contract = seats.contract
    recognize(D(2026, 6, 30))
    # From 1 July five more seats at 80 (below the 100 SSP) as a line of their own: 5 x 80 x 6
    # = 2,400 (SSP 5 x 100 x 6 = 3,000). Not at SSP, so not a separate contract; prospective.
    added = contract_line_factory(
        contract=contract,
        product=seats.product,
        quantity=Decimal(5),
        unit_price=usd("80"),
        service_start=D(2026, 7, 1),
    )
    modify(contract, modification_id=4, effective=D(2026, 7, 1), treatment="prospective")
    old, new = contract.obligations.order_by("sequence")
    assert [link.line for link in new.obligation_lines.all()] == [added]

    # Transaction price 12,000 + 2,400 = 14,400; earned before 1 July 5,950.68 (old seats), so
    # the remaining consideration is 14,400 - 5,950.68 = 8,449.32. Remaining SSPs: the old
    # seats' 184 of 365 days of 12,000 = 1,200,000 x 184 / 365 cents = 6,049.32 (rounded),
    # the new seats' 3,000; 9,049.32 in all. In cents: old 844,932 x 604,932 / 904,932 =
    # 564,822.997, new 844,932 x 300,000 / 904,932 = 280,109.003; floors 844,931, the cent left
    # to the larger remainder (old): old 5,648.23, new 2,801.09.
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.allocated, new.allocated) == (usd("5950.68") + usd("5648.23"), usd("2801.09"))
    assert old.allocated + new.allocated == usd("14400")

    recognize(D(2026, 12, 31))
    old_months, new_months = by_month(old), by_month(new)
    # January to June stay as they were: no catch-up on the old seats.
    assert [(m, a) for m, a in sorted(old_months.items()) if m < D(2026, 7, 1)] == [
        (period, usd(a)) for period, a in H1_RECOGNIZED
    ]
    # July to December carry the blended rate: 8,449.32 over 184 days for 15 seats. July (31
    # days), by the largest remainder over the six months: old 564,823 x 31 / 184 = 95,160.40
    # -> 951.61 (its remainder .40 gets a cent), new 280,109 x 31 / 184 = 47,192.28 -> 471.93
    # (likewise): 1,423.54, about 94.9 a seat-month against 100 (old seats) and 80 (new) as
    # priced.
    assert old_months[D(2026, 7, 1)] + new_months[D(2026, 7, 1)] == usd("1423.54")
    assert sum(old_months.values(), usd("0")) == old.allocated
    assert sum(new_months.values(), usd("0")) == new.allocated
    assert_balanced()


def test_the_same_modification_announced_twice_is_accounted_for_once(seats, recognize):
    contract = seats.contract
    recognize(D(2026, 6, 30))
    split_line(seats, effective=D(2026, 7, 1), quantity=Decimal(15))
    modify(contract, modification_id=5, effective=D(2026, 7, 1), treatment="prospective")
    state = (
        list(Allocation.objects.values_list("pk", "reason")),
        list(RevenueScheduleEntry.objects.values_list("pk", "amount", "status")),
    )
    modify(contract, modification_id=5, effective=D(2026, 7, 1), treatment="prospective")
    assert ModificationTreatment.objects.filter(contract=contract).count() == 1
    assert (
        list(Allocation.objects.values_list("pk", "reason")),
        list(RevenueScheduleEntry.objects.values_list("pk", "amount", "status")),
    ) == state


def test_a_modification_announced_after_its_terms_still_keeps_the_old_terms_before_it(
    seats, recognize, django_capture_on_commit_callbacks
):
    # Contracts announce the new terms (billing follows them) before the treatment: revenue has
    # by then synced its obligations to the split lines. The treatment takes the obligations as
    # they were before that sync, so the result is the same as in the first test.
    contract = seats.contract
    recognize(D(2026, 6, 30))
    [po] = contract.obligations.all()
    split_line(seats, effective=D(2026, 7, 1), quantity=Decimal(15))
    with django_capture_on_commit_callbacks(execute=True):
        contract_terms_announce(contract=contract)
    modify(contract, modification_id=6, effective=D(2026, 7, 1), treatment="prospective")

    assert list(contract.obligations.all()) == [po]
    po.refresh_from_db()
    assert po.allocated == usd("15000")
    assert "remaining 9,049.32 allocated to Seats 9,049.32" in (
        Allocation.objects.filter(contract=contract).latest().reason
    )
    recognize(D(2026, 12, 31))
    months = by_month(po)
    # January to June net to what they recognized on the old terms (the interim re-measurement
    # of the announced terms is reversed in the same open months).
    assert [(m, a) for m, a in sorted(months.items()) if m < D(2026, 7, 1)] == [
        (period, usd(a)) for period, a in H1_RECOGNIZED
    ]
    assert months[D(2026, 7, 1)] == usd("1524.62")
    assert sum(months.values(), usd("0")) == usd("15000")
