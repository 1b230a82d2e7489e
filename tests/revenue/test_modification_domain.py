"""Prospective accounting in the pure domain, on the published examples.

ASC 606-10-55-111 to 55-116 (Example 5): a contract for 120 products at 100 each (12,000, the
SSP), transferred over time as they ship. After 60 have shipped the customer adds 30 products at
80 each. Case B: 80 is not their SSP (100), so the modification is not a separate contract; the
remaining products are distinct, so it is accounted for prospectively: the remaining
consideration, 60 x 100 (not yet recognized) + 30 x 80 (added) = 8,400, is recognized over the
90 products still to ship, 93.33 a product.
"""

from datetime import date
from fractions import Fraction

from moneyed import Money

from revenue.domain.allocation import Obligation
from revenue.domain.earning import Step, delivery_curve
from revenue.domain.prospective import (
    Base,
    allocate_remaining,
    continued,
    partial_month,
    progress_rest,
    ratable_rest,
)

D = date


def usd(amount) -> Money:
    return Money(amount, "USD")


def test_example_5_case_b_spreads_the_remaining_8400_over_the_90_products_to_ship():
    original = Obligation("original", ssp=usd("12000"), fixed_price=usd("12000"))
    added = Obligation("added", ssp=usd("3000"), fixed_price=usd("2400"))
    # 60 of the 120 shipped: 6,000 earned. What remains of the original: half its SSP, 6,000;
    # of the added products all of it, 30 x 100 = 3,000.
    allocations, remaining = allocate_remaining(
        [original, added],
        earned={"original": usd("6000")},
        remaining_ssp={"original": usd("6000"), "added": usd("3000")},
    )
    # 12,000 + 2,400 - 6,000 = 8,400, split 6,000 : 3,000: 5,600 and 2,800, i.e. 93.33 a
    # product for the 60 original ones (5,600 / 60) and the 30 added ones (2,800 / 30).
    assert remaining == usd("8400")
    assert [(a.key, a.allocated, a.share) for a in allocations] == [
        ("original", usd("11600"), Fraction(2, 3)),
        ("added", usd("2800"), Fraction(1, 3)),
    ]
    assert sum((a.allocated for a in allocations), usd("0")) == usd("14400")

    # The original products' curve: 60 shipped in January, 30 in March, 30 in April.
    shipped = [(D(2026, 1, 20), Fraction(1, 2)), (D(2026, 3, 5), Fraction(1, 4))]
    shipped.append((D(2026, 4, 5), Fraction(1, 4)))
    usual = delivery_curve(allocated=usd("11600"), deliveries=shipped)
    base = Base(
        earned=usd("6000"), steps=(Step(D(2026, 1, 20), usd("6000")),), allocated=usd("12000")
    )
    rest = progress_rest(usual, part=usd("5600"), effective=D(2026, 2, 1), whole=usd("11600"))
    # Each 30 shipped after the modification is half of what remained: 2,800 (30 x 93.33).
    assert continued(base=base, rest=rest, currency="USD") == [
        Step(D(2026, 1, 20), usd("6000")),
        Step(D(2026, 3, 5), usd("8800")),
        Step(D(2026, 4, 5), usd("11600")),
    ]


def test_ifrs_15_example_7_recognizes_the_re_priced_services_over_the_remaining_years():
    # IFRS 15 IE Example 7 (change in services): three years of services at 100,000 a year;
    # at the start of year 3 the customer extends by three years and the price falls to 80,000
    # a year for the four years that remain. 200,000 earned in years 1-2 stays; the remaining
    # 320,000 (the new transaction price 520,000 less 200,000) is earned over the four
    # remaining years: 80,000 a year, nothing adjusted for years 1-2.
    service = Obligation("services", ssp=usd("400000"), fixed_price=usd("520000"))
    [allocation], remaining = allocate_remaining(
        [service], earned={"services": usd("200000")}, remaining_ssp={"services": usd("400000")}
    )
    assert (remaining, allocation.allocated) == (usd("320000"), usd("520000"))
    rest = ratable_rest(
        part=usd("320000"), effective=D(2028, 1, 1), start=D(2026, 1, 1), end=D(2031, 12, 31)
    )
    by_year = {}
    previous = usd("0")
    for step in rest:
        by_year[step.on.year] = by_year.get(step.on.year, usd("0")) + step.cumulative - previous
        previous = step.cumulative
    # By days: 2028 is a leap year, 366 of the 1,461 days: 320,000 x 366 / 1,461 = 80,164.271
    # in it, 320,000 x 365 / 1,461 = 79,945.243 in each other year. Months are rounded to the
    # cent by the largest remainder, so each year is within 12 cents (a cent a month) of that,
    # and the four add up to exactly 320,000.
    assert sorted(by_year) == [2028, 2029, 2030, 2031]
    assert sum(by_year.values(), usd("0")) == usd("320000")
    exact = {2028: Fraction(320000 * 366, 1461)} | {
        year: Fraction(320000 * 365, 1461) for year in (2029, 2030, 2031)
    }
    for year, amount in by_year.items():
        assert abs(Fraction(amount.amount) - exact[year]) <= Fraction(12, 100), year


def test_a_month_split_by_the_effective_date_keeps_its_days_before_it_at_the_old_rate():
    # July earns 1,019.18 on the old terms; a modification effective 15 July keeps the first
    # 14 of its 31 days: 1,019.18 x 14 / 31 = 460.27 (460.2748 rounded half-up).
    assert partial_month(
        month_amount=usd("1019.18"),
        month_first=D(2026, 7, 1),
        month_last=D(2026, 7, 31),
        effective=D(2026, 7, 15),
    ) == usd("460.27")


def test_what_remains_of_a_finished_term_is_earned_on_its_last_day():
    # A termination effective 1 June of a term that ended on 31 May: the 35.62 the customer
    # still owes beyond what was earned is earned on 31 May, not after the service ended.
    assert ratable_rest(
        part=usd("35.62"), effective=D(2026, 6, 1), start=D(2026, 1, 1), end=D(2026, 5, 31)
    ) == [Step(D(2026, 5, 31), usd("35.62"))]
