"""Receivables: aging buckets on fixed days, payments applied in order, invoice settlement."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moneyed import Money

from billing.domain.receivables import (
    AgingBucket,
    Application,
    OpenItem,
    SettlementStatus,
    aging_bucket,
    aging_report,
    apply_payment,
    oldest_first,
    settlement_status,
)
from rms.money import minor_unit_exponent

D = date
AS_OF = D(2026, 6, 30)


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def item(key, due, amount, issued=None):
    """Build an open item; without an issue date, it was issued 30 days before it fell due."""
    if not isinstance(amount, Money):
        amount = usd(amount)
    return OpenItem(
        key=key, due_date=due, issue_date=issued or due - timedelta(days=30), open_amount=amount
    )


# aging_bucket


@pytest.mark.parametrize(
    ("due", "bucket"),
    [
        (D(2026, 7, 15), AgingBucket.CURRENT),  # not yet due
        (D(2026, 6, 30), AgingBucket.CURRENT),  # due today: late only from tomorrow
        (D(2026, 6, 29), AgingBucket.D1_30),  # 1 day
        (D(2026, 5, 31), AgingBucket.D1_30),  # 30 days
        (D(2026, 5, 30), AgingBucket.D31_60),  # 31 days
        (D(2026, 5, 1), AgingBucket.D31_60),  # 60 days
        (D(2026, 4, 30), AgingBucket.D61_90),  # 61 days
        (D(2026, 4, 1), AgingBucket.D61_90),  # 90 days
        (D(2026, 3, 31), AgingBucket.OVER_90),  # 91 days
        (D(2025, 1, 1), AgingBucket.OVER_90),
    ],
)
def test_aging_bucket_on_fixed_days(due, bucket):
    assert aging_bucket(due_date=due, as_of=AS_OF) is bucket


def test_aging_bucket_values_are_stable_strings():
    assert [str(b) for b in AgingBucket] == ["current", "1_30", "31_60", "61_90", "over_90"]


# aging_report


def test_aging_report_sorts_amounts_into_buckets_and_sums_to_the_total():
    items = [
        item(1, D(2026, 6, 30), "100.00"),  # current
        item(2, D(2026, 6, 29), "200.50"),  # 1-30
        item(3, D(2026, 5, 31), "300.25"),  # 1-30
        item(4, D(2026, 5, 30), "400.00"),  # 31-60
        item(5, D(2026, 4, 1), "50.01"),  # 61-90
        item(6, D(2026, 3, 31), "9.99"),  # over 90
    ]
    report = aging_report(items, as_of=AS_OF)
    assert report == {
        AgingBucket.CURRENT: usd("100.00"),
        AgingBucket.D1_30: usd("500.75"),
        AgingBucket.D31_60: usd("400.00"),
        AgingBucket.D61_90: usd("50.01"),
        AgingBucket.OVER_90: usd("9.99"),
    }
    assert sum(report.values(), usd("0")) == usd("1060.75")


def test_aging_report_shows_every_bucket_even_empty():
    report = aging_report([item(1, D(2026, 7, 31), "10.00")], as_of=AS_OF)
    assert list(report) == list(AgingBucket)
    assert report[AgingBucket.CURRENT] == usd("10.00")
    assert all(report[b] == usd("0") for b in AgingBucket if b is not AgingBucket.CURRENT)


def test_aging_report_of_nothing_needs_a_currency():
    with pytest.raises(ValueError, match="pass the currency"):
        aging_report([], as_of=AS_OF)
    report = aging_report([], as_of=AS_OF, currency="EUR")
    assert report == {bucket: Money(0, "EUR") for bucket in AgingBucket}


def test_aging_report_in_yen():
    items = [
        item(1, D(2026, 6, 1), Money(120000, "JPY")),
        item(2, D(2026, 1, 1), Money(5, "JPY")),
    ]
    report = aging_report(items, as_of=AS_OF)
    assert report[AgingBucket.D1_30] == Money(120000, "JPY")
    assert report[AgingBucket.OVER_90] == Money(5, "JPY")
    assert report[AgingBucket.CURRENT] == Money(0, "JPY")


def test_aging_report_refuses_mixed_currencies():
    items = [item(1, AS_OF, "1.00"), item(2, AS_OF, Money("1.00", "EUR"))]
    with pytest.raises(ValueError, match="Mixed currencies: USD and EUR"):
        aging_report(items, as_of=AS_OF)
    with pytest.raises(ValueError, match="Mixed currencies: EUR and USD"):
        aging_report([item(1, AS_OF, "1.00")], as_of=AS_OF, currency="EUR")


# OpenItem


@pytest.mark.parametrize("amount", ["0.00", "-5.00"])
def test_open_item_owes_something(amount):
    with pytest.raises(ValueError, match="must be > 0"):
        item(1, AS_OF, amount)


def test_open_item_sits_on_the_minor_unit():
    with pytest.raises(ValueError, match="finer than the currency's minor unit"):
        item(1, AS_OF, "1.005")
    with pytest.raises(ValueError, match="finer than the currency's minor unit"):
        item(1, AS_OF, Money("0.5", "JPY"))


# apply_payment

OLDER = item(10, D(2026, 5, 1), "1000.00")
NEWER = item(11, D(2026, 6, 1), "800.00")


def test_payment_settles_the_oldest_first_and_the_next_in_part():
    # Listed newest first: the order comes from the due dates, not the list.
    applications, unapplied = apply_payment(amount=usd("1500.00"), items=[NEWER, OLDER])
    assert applications == [
        Application(key=10, amount=usd("1000.00")),
        Application(key=11, amount=usd("500.00")),
    ]
    assert unapplied == usd("0.00")


def test_payment_beyond_what_is_owed_leaves_credit():
    applications, unapplied = apply_payment(amount=usd("2000.00"), items=[NEWER, OLDER])
    assert applications == [
        Application(key=10, amount=usd("1000.00")),
        Application(key=11, amount=usd("800.00")),
    ]
    assert unapplied == usd("200.00")


def test_payment_that_covers_exactly_one_item_stops_there():
    applications, unapplied = apply_payment(amount=usd("1000.00"), items=[OLDER, NEWER])
    assert applications == [Application(key=10, amount=usd("1000.00"))]
    assert unapplied == usd("0")


def test_payment_with_no_open_items_is_all_credit():
    applications, unapplied = apply_payment(amount=usd("75.00"), items=[])
    assert applications == []
    assert unapplied == usd("75.00")


def test_due_date_ties_go_to_the_earlier_issue_then_the_key():
    due = D(2026, 6, 1)
    late_issue = item(1, due, "100.00", issued=D(2026, 5, 20))
    early_issue = item(9, due, "100.00", issued=D(2026, 5, 1))
    same_day_b = item("B", due, "100.00", issued=D(2026, 5, 25))
    same_day_a = item("A", due, "100.00", issued=D(2026, 5, 25))
    items = [same_day_b, late_issue, same_day_a, early_issue]
    assert [i.key for i in oldest_first(items)] == [9, 1, "A", "B"]
    applications, _ = apply_payment(amount=usd("250.00"), items=items)
    assert applications == [
        Application(key=9, amount=usd("100.00")),
        Application(key=1, amount=usd("100.00")),
        Application(key="A", amount=usd("50.00")),
    ]


def test_targeted_payment_follows_the_remittance_not_the_age():
    applications, unapplied = apply_payment(
        amount=usd("1500.00"), items=[OLDER, NEWER], targets=[11, 10]
    )
    assert applications == [
        Application(key=11, amount=usd("800.00")),
        Application(key=10, amount=usd("700.00")),
    ]
    assert unapplied == usd("0.00")


def test_targeted_payment_never_spills_onto_items_not_named():
    applications, unapplied = apply_payment(
        amount=usd("1500.00"), items=[OLDER, NEWER], targets=[11]
    )
    assert applications == [Application(key=11, amount=usd("800.00"))]
    assert unapplied == usd("700.00")


def test_payment_in_yen():
    items = [
        item("INV-1", D(2026, 4, 1), Money(100000, "JPY")),
        item("INV-2", D(2026, 5, 1), Money(55555, "JPY")),
    ]
    applications, unapplied = apply_payment(amount=Money(120001, "JPY"), items=items)
    assert applications == [
        Application(key="INV-1", amount=Money(100000, "JPY")),
        Application(key="INV-2", amount=Money(20001, "JPY")),
    ]
    assert unapplied == Money(0, "JPY")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount": usd("0.00")}, "must be positive"),
        ({"amount": usd("-1.00")}, "must be positive"),
        ({"amount": usd("1.001")}, "finer than the currency's minor unit"),
        ({"amount": Money("10", "EUR")}, "Mixed currencies: EUR and USD"),
        ({"targets": [10, 99]}, "Target 99 is not an open item"),
        ({"targets": ["10"]}, "Target '10' is not an open item"),
        ({"targets": [10, 11, 10]}, "Target 10 is named twice"),
        ({"items": [OLDER, NEWER, OLDER]}, "Open item 10 appears twice"),
    ],
)
def test_apply_payment_refuses(kwargs, message):
    arguments = {"amount": usd("100.00"), "items": [OLDER, NEWER]} | kwargs
    with pytest.raises(ValueError, match=message):
        apply_payment(**arguments)


def test_apply_payment_refuses_items_in_two_currencies():
    euro_item = item(12, D(2026, 6, 1), Money("5.00", "EUR"))
    with pytest.raises(ValueError, match="Mixed currencies: USD and EUR"):
        apply_payment(amount=usd("100.00"), items=[OLDER, euro_item], targets=[10])


# settlement_status


@pytest.mark.parametrize(
    ("total", "paid", "status"),
    [
        ("1000.00", "0.00", SettlementStatus.ISSUED),
        ("1000.00", "0.01", SettlementStatus.PARTIALLY_PAID),
        ("1000.00", "999.99", SettlementStatus.PARTIALLY_PAID),
        ("1000.00", "1000.00", SettlementStatus.PAID),
        ("0.00", "0.00", SettlementStatus.PAID),  # nothing owed
    ],
)
def test_settlement_status(total, paid, status):
    assert settlement_status(total=usd(total), paid=usd(paid)) == status


def test_settlement_status_is_the_plain_status_string():
    assert settlement_status(total=usd("10"), paid=usd("0")) == "issued"
    assert settlement_status(total=usd("10"), paid=usd("4")) == "partially_paid"
    assert settlement_status(total=usd("10"), paid=usd("10")) == "paid"
    assert settlement_status(total=Money(500, "JPY"), paid=Money(499, "JPY")) == "partially_paid"


@pytest.mark.parametrize(
    ("total", "paid", "message"),
    [
        (usd("100.00"), usd("100.01"), "exceeds the invoice total"),
        (usd("100.00"), usd("-0.01"), "cannot be negative"),
        (usd("-100.00"), usd("0.00"), "credits are credit notes"),
        (usd("100.00"), Money("50", "EUR"), "Mixed currencies: USD and EUR"),
    ],
)
def test_settlement_status_refuses(total, paid, message):
    with pytest.raises(ValueError, match=message):
        settlement_status(total=total, paid=paid)


# Properties

codes = st.sampled_from(["USD", "JPY", "KWD", "EUR"])
days = st.dates(min_value=D(2025, 1, 1), max_value=D(2027, 12, 31))


def money_in(code, min_units=1, max_units=10**9):
    """Strategy for amounts on the currency's minor unit, built from whole minor units."""
    exponent = minor_unit_exponent(code)
    return st.integers(min_units, max_units).map(
        lambda units: Money(Decimal(units).scaleb(-exponent), code)
    )


@st.composite
def ledgers(draw):
    """Draw a currency, a list of open items in it with distinct keys, and a payment."""
    code = draw(codes)
    keys = draw(st.lists(st.integers(0, 50), unique=True, max_size=8))
    items = []
    for key in keys:
        due = draw(days)
        issued = due - timedelta(days=draw(st.integers(0, 90)))
        items.append(
            OpenItem(key=key, due_date=due, issue_date=issued, open_amount=draw(money_in(code)))
        )
    payment = draw(money_in(code, max_units=5 * 10**9))
    return code, items, payment


@st.composite
def ledgers_with_targets(draw):
    """Draw a ledger and, half the time, a remittance naming some of its items in any order."""
    code, items, payment = draw(ledgers())
    targets = None
    if draw(st.booleans()):
        targets = draw(st.permutations([i.key for i in items]))
        targets = targets[: draw(st.integers(0, len(targets)))]
    return code, items, payment, targets


@given(ledger=ledgers_with_targets())
def test_applications_and_unapplied_add_up_to_the_payment(ledger):
    code, items, payment, targets = ledger
    applications, unapplied = apply_payment(amount=payment, items=items, targets=targets)
    assert sum((a.amount for a in applications), Money(0, code)) + unapplied == payment
    assert unapplied.currency.code == code
    assert unapplied.amount >= 0


@given(ledger=ledgers_with_targets())
def test_no_application_exceeds_what_its_item_owes(ledger):
    _, items, payment, targets = ledger
    owed = {i.key: i.open_amount for i in items}
    applications, _ = apply_payment(amount=payment, items=items, targets=targets)
    assert len({a.key for a in applications}) == len(applications)
    for application in applications:
        assert 0 < application.amount.amount <= owed[application.key].amount


@given(ledger=ledgers_with_targets())
def test_applications_follow_the_order(ledger):
    _, items, payment, targets = ledger
    by_key = {i.key: i for i in items}
    order = [i.key for i in oldest_first(items)] if targets is None else list(targets)
    applications, unapplied = apply_payment(amount=payment, items=items, targets=targets)
    # The applications are a prefix of the order ...
    assert [a.key for a in applications] == order[: len(applications)]
    # ... every one but the last settles its item in full ...
    for application in applications[:-1]:
        assert application.amount == by_key[application.key].open_amount
    # ... and credit is left over only once every item in the order is settled.
    if unapplied.amount > 0:
        assert len(applications) == len(order)
        assert all(a.amount == by_key[a.key].open_amount for a in applications)


@given(ledger=ledgers(), as_of=days)
def test_aging_buckets_sum_to_the_total(ledger, as_of):
    code, items, _ = ledger
    report = aging_report(items, as_of=as_of, currency=code)
    assert list(report) == list(AgingBucket)
    total = sum((i.open_amount for i in items), Money(0, code))
    assert sum(report.values(), Money(0, code)) == total
    for bucket, amount in report.items():
        in_bucket = [i for i in items if aging_bucket(due_date=i.due_date, as_of=as_of) is bucket]
        assert amount == sum((i.open_amount for i in in_bucket), Money(0, code))


@given(due=days, as_of=days)
def test_aging_bucket_matches_days_past_due(due, as_of):
    late = (as_of - due).days
    # Inclusive upper bound of days past due per bucket, written out independently of the module.
    bands = [(0, AgingBucket.CURRENT), (30, AgingBucket.D1_30), (60, AgingBucket.D31_60)]
    bands.append((90, AgingBucket.D61_90))
    expected = next((b for upper, b in bands if late <= upper), AgingBucket.OVER_90)
    assert aging_bucket(due_date=due, as_of=as_of) is expected


@given(code=codes, data=st.data())
def test_settlement_status_over_any_partial_payment(code, data):
    total = data.draw(money_in(code))
    paid_units = data.draw(st.integers(0, 10**9))
    paid = Money(Decimal(paid_units).scaleb(-minor_unit_exponent(code)), code)
    if paid > total:
        with pytest.raises(ValueError, match="exceeds"):
            settlement_status(total=total, paid=paid)
    else:
        status = settlement_status(total=total, paid=paid)
        assert (status is SettlementStatus.ISSUED) == (paid.amount == 0)
        assert (status is SettlementStatus.PAID) == (paid == total)
