"""MRR and its movements: the pure computation (hand-worked and as a property) and the read."""

from datetime import date
from decimal import Decimal

import pytest
from djmoney.money import Money
from hypothesis import given
from hypothesis import strategies as st

from contracts.models import Contract
from reports.tables import Filters
from workspace.dashboard.mrr import monthly_amount, mrr_movements
from workspace.dashboard.selectors import mrr_by_month

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)


def test_monthly_amount_spreads_the_interval_price_over_its_months():
    assert monthly_amount(per_interval=Decimal("1200.00"), interval_months=12) == Decimal(100)
    assert monthly_amount(per_interval=Decimal("600.00"), interval_months=3) == Decimal(200)


def test_movements_hand_worked():
    """A new in January, grows in February; B churns in March; C shrinks in March."""
    series = {
        "A": [Decimal(0), Decimal(100), Decimal(300), Decimal(300)],
        "B": [Decimal(0), Decimal(200), Decimal(200), Decimal(0)],
        "C": [Decimal(0), Decimal(150), Decimal(150), Decimal(50)],
    }
    jan, feb, mar = mrr_movements(series, [JAN, FEB, MAR])

    assert (jan.opening, jan.new, jan.closing) == (0, 450, 450)
    assert (feb.opening, feb.expansion, feb.new, feb.closing) == (450, 200, 0, 650)
    assert (mar.opening, mar.contraction, mar.churn, mar.closing) == (650, 100, 200, 350)
    assert mar.arr == 4200
    assert mar.net_change == -300


def test_a_customer_coming_back_is_new_again():
    [back] = mrr_movements({"A": [Decimal(0), Decimal(80)]}, [JAN])
    [gone] = mrr_movements({"A": [Decimal(80), Decimal(0)]}, [JAN])

    assert (back.new, back.churn) == (80, 0)
    assert (gone.new, gone.churn) == (0, 80)


amounts = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False)


@given(
    st.integers(min_value=1, max_value=12).flatmap(
        lambda months: st.dictionaries(
            st.integers(min_value=1, max_value=30),
            st.lists(
                st.one_of(st.just(Decimal(0)), amounts), min_size=months + 1, max_size=months + 1
            ),
            max_size=8,
        ).map(lambda series: (months, series))
    )
)
def test_opening_plus_movements_is_closing(case):
    months, series = case
    periods = [date(2026, m, 1) for m in range(1, months + 1)]
    result = mrr_movements(series, periods)

    for index, month in enumerate(result):
        assert (
            month.opening + month.new + month.expansion - month.contraction - month.churn
            == month.closing
        )
        assert min(month.new, month.expansion, month.contraction, month.churn) >= 0
        assert month.closing == sum(figures[index + 1] for figures in series.values())
        if index:
            assert month.opening == result[index - 1].closing


# --- Read from the book ------------------------------------------------------------------------


def filters(first: date = JAN, last: date = MAR, **scope) -> Filters:
    scope = {"currency": "", "customer_id": None, **scope}
    return Filters(as_of=last, first=first, last=last, **scope)


@pytest.fixture
def subscriptions(contract_factory, contract_line_factory, customer_factory):
    """The hand-worked book of ``test_movements_hand_worked``, as contract lines.

    A: 100.00 monthly all year, plus 2 seats at 300.00 a quarter from February (200.00 a month).
    B: 2,400.00 a year, in service January and February only (200.00 a month).
    C: 3 x 50.00 monthly to February, continued as 1 x 50.00 from March.
    A draft contract (not booked) and a EUR quarterly 100.00 line (33.33 a month).
    """

    def contract(customer, currency="USD", status=Contract.Status.ACTIVE):
        return contract_factory(customer=customer, status=status, currency=currency)

    a, b, c, d = (customer_factory(legal_name=name) for name in "ABCD")
    first = contract(a)
    contract_line_factory(contract=first)
    contract_line_factory(
        contract=first,
        quantity=Decimal(2),
        unit_price=Money("300.00", "USD"),
        interval_months=3,
        service_start=FEB,
    )
    contract_line_factory(
        contract=contract(b),
        unit_price=Money("2400.00", "USD"),
        interval_months=12,
        service_end=date(2026, 2, 28),
    )
    third = contract(c)
    contract_line_factory(
        contract=third,
        quantity=Decimal(3),
        unit_price=Money("50.00", "USD"),
        service_end=date(2026, 2, 28),
    )
    contract_line_factory(
        contract=third, quantity=Decimal(1), unit_price=Money("50.00", "USD"), service_start=MAR
    )
    contract_line_factory(contract=contract(d, status=Contract.Status.DRAFT))
    euro = customer_factory(currency="EUR")
    contract_line_factory(
        contract=contract(euro, "EUR"), unit_price=Money("100.00", "EUR"), interval_months=3
    )
    return a, b, c


@pytest.mark.django_db
def test_mrr_read_from_subscription_lines(subscriptions):
    found = mrr_by_month(filters())

    assert set(found) == {"EUR", "USD"}
    jan, feb, mar = found["USD"]
    assert (jan.opening, jan.new, jan.closing) == (0, 450, 450)
    assert (feb.expansion, feb.closing) == (200, 650)
    assert (mar.contraction, mar.churn, mar.closing, mar.arr) == (100, 200, 350, 4200)
    # 100.00 a quarter is 33.33 a month, rounded half-up once per customer and month end.
    assert [month.closing for month in found["EUR"]] == [Decimal("33.33")] * 3


@pytest.mark.django_db
def test_mrr_opening_is_the_month_end_before_the_range(subscriptions):
    [feb] = mrr_by_month(filters(first=FEB, last=FEB, currency="USD"))["USD"]

    assert (feb.opening, feb.expansion, feb.closing) == (450, 200, 650)


@pytest.mark.django_db
def test_mrr_narrowed_to_one_customer(subscriptions):
    b = subscriptions[1]
    found = mrr_by_month(filters(customer_id=b.pk))

    assert list(found) == ["USD"]
    assert [(m.new, m.churn, m.closing) for m in found["USD"]] == [
        (200, 0, 200),
        (0, 0, 200),
        (0, 200, 0),
    ]
