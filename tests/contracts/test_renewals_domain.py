"""The renewal arithmetic alone: terms that follow terms, uplifted prices, notice deadlines."""

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moneyed import Money

from contracts.domain.renewals import annual_value, notice_deadline, renewal_term, uplifted
from rms.money import minor_unit_exponent, round_money


@pytest.mark.parametrize(
    ("price", "percent", "expected"),
    [
        (Money("1200.00", "USD"), "3.5", Money("1242.00", "USD")),  # 1,200 x 1.035
        (Money("99.99", "USD"), "3.5", Money("103.49", "USD")),  # 103.48965 -> .49
        (Money("0.10", "USD"), "5", Money("0.11", "USD")),  # 0.105 -> 0.11, half-up
        (Money("1000", "JPY"), "2.5", Money("1025", "JPY")),  # exact
        (Money("10", "JPY"), "5", Money("11", "JPY")),  # 10.5 -> 11, half-up, not to even
        (Money("500.000", "KWD"), "1.25", Money("506.250", "KWD")),  # three decimals
        (Money("80.00", "EUR"), "0", Money("80.00", "EUR")),
    ],
)
def test_uplifted_prices_by_hand(price, percent, expected):
    assert uplifted(price, Decimal(percent)) == expected


def test_an_uplift_is_a_decimal():
    with pytest.raises(TypeError):
        uplifted(Money("10", "USD"), 3.5)


@pytest.mark.parametrize(
    ("term_end", "months", "expected"),
    [
        (date(2026, 12, 31), 12, (date(2027, 1, 1), date(2027, 12, 31))),
        (date(2026, 6, 14), 12, (date(2026, 6, 15), date(2027, 6, 14))),
        (date(2027, 2, 28), 12, (date(2027, 3, 1), date(2028, 2, 29))),  # into a leap year
        (date(2026, 12, 31), 1, (date(2027, 1, 1), date(2027, 1, 31))),
        (date(2026, 3, 31), 36, (date(2026, 4, 1), date(2029, 3, 31))),
    ],
)
def test_the_term_after_a_term(term_end, months, expected):
    assert renewal_term(term_end, months) == expected


def test_a_term_is_at_least_a_month():
    with pytest.raises(ValueError):
        renewal_term(date(2026, 12, 31), 0)


def test_the_notice_deadline_is_the_notice_period_before_the_end():
    assert notice_deadline(date(2026, 12, 31), 60) == date(2026, 11, 1)


def test_annual_value_by_hand():
    # 100.00 a month x 3 seats = 3,600.00; 1,200.00 a year x 1; 250.00 a quarter x 2 = 2,000.00.
    charges = [
        (Decimal("100.00"), Decimal(3), 1),
        (Decimal("1200.00"), Decimal(1), 12),
        (Decimal("250.00"), Decimal(2), 3),
    ]
    assert annual_value(charges, "USD") == Money("6800.00", "USD")


currencies = st.sampled_from(["USD", "EUR", "JPY", "KWD", "CLP"])


@given(
    currency=currencies,
    amount=st.decimals(min_value=0, max_value=10**9, places=4),
    percent=st.decimals(min_value=0, max_value=100, places=4),
)
def test_an_uplifted_price_is_never_more_than_half_a_minor_unit_off(currency, amount, percent):
    price = uplifted(Money(amount, currency), percent)
    exact = amount * (100 + percent) / 100
    half_unit = Decimal(1).scaleb(-minor_unit_exponent(currency)) / 2
    assert abs(price.amount - exact) <= half_unit
    # An uplift never lowers a price: not below the old price on the minor unit.
    assert price >= round_money(amount, currency)


@given(
    first_end=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    terms=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=8),
)
def test_k_renewals_give_k_contiguous_terms(first_end, terms):
    end, spans = first_end, []
    for months in terms:
        start, new_end = renewal_term(end, months)
        spans.append((start, new_end))
        end = new_end
    assert len(spans) == len(terms)
    assert spans[0][0] == first_end + timedelta(days=1)
    for (_, end_before), (start_after, _) in pairwise(spans):
        assert start_after == end_before + timedelta(days=1)  # no gap, no overlap
    for (start, end), months in zip(spans, terms, strict=True):
        # A term of n months lasts between 28n-ish and 31n days, never less than a month.
        assert 28 * months - 3 <= (end - start).days + 1 <= 31 * months
