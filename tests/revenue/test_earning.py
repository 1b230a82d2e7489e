"""Earning curves and the postings a run derives from them: worked examples and properties."""

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from moneyed import Money

from revenue.domain.earning import (
    Segment,
    Step,
    consumption_curve,
    delivery_curve,
    earned_through,
    milestone_curve,
    months_between,
    next_month,
    postings,
    progress_curve,
    ratable_curve,
)
from revenue.domain.recognition import month_end, month_start
from rms.money import minor_unit_exponent

D = date


def usd(amount) -> Money:
    return Money(Decimal(amount), "USD")


# --- Worked examples -------------------------------------------------------------------------


def test_a_ratable_curve_steps_at_each_month_end_by_days():
    # 3,100.00 for 20 Jan - 19 Mar 2026: 12 + 28 + 19 = 59 days. In cents 310,000 x days / 59:
    #   Jan 12 days: 63,050.847 -> 63,050 (.847)
    #   Feb 28 days: 147,118.644 -> 147,118 (.644)
    #   Mar 19 days: 99,830.508 -> 99,830 (.508)
    # Floors 309,998: 2 cents short, to Jan (.847) and Feb (.644): 630.51, 1,471.19, 998.30.
    curve = ratable_curve(
        allocated=usd("3100.00"), segments=[Segment(D(2026, 1, 20), D(2026, 3, 19), Fraction(1))]
    )

    assert curve == [
        Step(D(2026, 1, 31), usd("630.51")),
        Step(D(2026, 2, 28), usd("2101.70")),  # 630.51 + 1,471.19
        Step(D(2026, 3, 31), usd("3100.00")),  # + 998.30
    ]
    # Read mid-month, only whole months count: March's share waits for 31 Mar.
    assert earned_through(curve, D(2026, 3, 19), currency="USD") == usd("2101.70")
    assert earned_through(curve, D(2026, 1, 30), currency="USD") == usd("0")


def test_an_evergreen_curve_spreads_each_billed_period_over_its_own_days():
    # Two monthly periods billed 100.00 and 300.00: the 400.00 splits 1:3 between them, and
    # each period's share is spread over its own days, in cents:
    #   16 Jan - 15 Feb (16 + 15 = 31 days): Jan 10,000 x 16/31 = 5,161.29 -> 5,161 (.29),
    #   Feb 10,000 x 15/31 = 4,838.71 -> 4,838 (.71); the cent short goes to Feb: 51.61, 48.39.
    #   16 Feb - 15 Mar (13 + 15 = 28 days): Feb 30,000 x 13/28 = 13,928.57 -> 13,928 (.57),
    #   Mar 30,000 x 15/28 = 16,071.43 -> 16,071 (.43); the cent to Feb: 139.29, 160.71.
    curve = ratable_curve(
        allocated=usd("400.00"),
        segments=[
            Segment(D(2026, 1, 16), D(2026, 2, 15), Fraction(100)),
            Segment(D(2026, 2, 16), D(2026, 3, 15), Fraction(300)),
        ],
    )

    assert curve == [
        Step(D(2026, 1, 31), usd("51.61")),
        Step(D(2026, 2, 28), usd("239.29")),  # 51.61 + 48.39 + 139.29
        Step(D(2026, 3, 31), usd("400.00")),  # + 160.71
    ]


def test_a_partial_shipment_earns_its_share_and_the_backorder_the_rest():
    # 1,000.00 of goods, 3 of 7 units shipped on 10 Mar, 4 on 5 May: 1,000 x 3/7 = 428.571
    # -> 428.57 earned in March, and 1,000.00 once all are shipped.
    curve = delivery_curve(
        allocated=usd("1000.00"),
        deliveries=[(D(2026, 5, 5), Fraction(4, 7)), (D(2026, 3, 10), Fraction(3, 7))],
    )

    assert curve == [Step(D(2026, 3, 10), usd("428.57")), Step(D(2026, 5, 5), usd("1000.00"))]


def test_deliveries_of_more_than_the_whole_are_refused():
    with pytest.raises(ValueError, match="more than the whole"):
        delivery_curve(
            allocated=usd("10.00"),
            deliveries=[(D(2026, 1, 1), Fraction(2, 3)), (D(2026, 1, 2), Fraction(1, 2))],
        )


def test_milestones_earn_their_share_of_the_allocated_price():
    # 30 / 40 / 30 of a project billed 100,000 but allocated 80,000: 24,000 / 32,000 / 24,000.
    values = [usd("30000"), usd("40000"), usd("30000")]

    curve = milestone_curve(
        allocated=usd("80000"), values=values, achieved_on=[D(2026, 2, 15), None, D(2026, 1, 20)]
    )

    # The third milestone came first; the second is not achieved.
    assert curve == [Step(D(2026, 1, 20), usd("24000")), Step(D(2026, 2, 15), usd("48000"))]


def test_falling_progress_steps_the_curve_down():
    # 40% then 45/150 = 30% of 90,000.00: 36,000.00 then 27,000.00.
    curve = progress_curve(
        allocated=usd("90000.00"),
        progress=[(D(2026, 1, 31), Fraction(2, 5)), (D(2026, 2, 28), Fraction(45, 150))],
    )

    assert curve == [Step(D(2026, 1, 31), usd("36000.00")), Step(D(2026, 2, 28), usd("27000.00"))]


def test_a_change_to_a_closed_month_posts_in_the_first_open_one():
    # 600.00 over Jan - Mar 2026 (31 + 28 + 31 = 90 days), in cents: Jan 60,000 x 31/90 =
    # 20,666.67, Feb 18,666.67, Mar 20,666.67; floors 59,998, and the 2 cents short go to the
    # earliest of the equal remainders: Jan 206.67, Feb 186.67, Mar 206.66.
    before = ratable_curve(
        allocated=usd("600.00"), segments=[Segment(D(2026, 1, 1), D(2026, 3, 31), Fraction(1))]
    )
    assert [step.cumulative for step in before] == [usd("206.67"), usd("393.34"), usd("600.00")]
    recognized = {D(2026, 1, 1): usd("206.67"), D(2026, 2, 1): usd("186.67")}
    # Jan and Feb are closed; the price becomes 900.00: Jan 310.00, Feb 280.00, Mar 310.00
    # (exact: 90,000 x 31/90 = 31,000 cents). By 28 Feb 590.00 should have been earned, 196.66
    # more than the 393.34 posted: that catch-up posts on 1 March as an entry of its own, and
    # March's own 310.00 at March's end.
    after = ratable_curve(
        allocated=usd("900.00"), segments=[Segment(D(2026, 1, 1), D(2026, 3, 31), Fraction(1))]
    )

    due = postings(
        curve=after,
        months=[D(2026, 3, 1)],
        recognized=recognized,
        currency="USD",
        as_of=D(2026, 3, 31),
    )

    assert [(p.period, p.on, p.amount, p.catch_up) for p in due] == [
        (D(2026, 3, 1), D(2026, 3, 1), usd("196.66"), True),
        (D(2026, 3, 1), D(2026, 3, 31), usd("310.00"), False),
    ]
    # Posted, the catch-up is not posted again by a later run in the same month.
    recognized[D(2026, 3, 1)] = usd("506.66")
    assert (
        postings(
            curve=after,
            months=[D(2026, 3, 1)],
            recognized=recognized,
            currency="USD",
            as_of=D(2026, 3, 31),
            caught_up=usd("196.66"),
        )
        == []
    )


# --- Properties ------------------------------------------------------------------------------

CODES = ["USD", "JPY", "KWD"]
days = st.dates(D(2024, 1, 1), D(2030, 12, 31))


@st.composite
def money(draw, code: str, max_units: int = 10**9) -> Money:
    """Draw an amount on the currency's minor unit, zero included."""
    units = draw(st.integers(0, max_units))
    return Money(Decimal(units).scaleb(-minor_unit_exponent(code)), code)


@st.composite
def services(draw, code: str | None = None):
    """Draw (allocated, segments): one fixed term, or consecutive weighted evergreen periods."""
    code = code or draw(st.sampled_from(CODES))
    allocated = draw(money(code))
    start = draw(days)
    segments = []
    for _ in range(draw(st.integers(1, 4))):
        end = start + timedelta(days=draw(st.integers(0, 400)))
        segments.append(Segment(start, end, Fraction(draw(st.integers(0, 10**6)))))
        start = end + timedelta(days=1)
    assume(sum(segment.weight for segment in segments) > 0 or allocated.amount == 0)
    return allocated, segments


@st.composite
def deliveries(draw):
    """Draw a whole split into dated parts that add up to exactly one."""
    cuts = sorted(draw(st.lists(st.fractions(0, 1), max_size=5)))
    bounds = [Fraction(0), *cuts, Fraction(1)]
    parts = [high - low for low, high in pairwise(bounds)]
    return [(draw(days), part) for part in parts]


def assert_curve_ends_at(curve, allocated):
    """The curve climbs (never falls) and its last step is exactly the allocated price."""
    values = [step.cumulative for step in curve]
    assert values == sorted(values)
    assert [step.on for step in curve] == sorted({step.on for step in curve})
    assert values[-1] == allocated


@given(service=services())
def test_a_ratable_curve_climbs_to_the_allocated_price_on_month_ends(service):
    allocated, segments = service

    curve = ratable_curve(allocated=allocated, segments=segments)

    assert_curve_ends_at(curve, allocated)
    assert all(step.on == month_end(step.on) for step in curve)
    # The last step is the month the service ends in; nothing is earned before its first month.
    assert curve[-1].on == month_end(segments[-1].end)
    assert curve[0].on >= month_end(segments[0].start)


@given(code=st.sampled_from(CODES), data=st.data())
def test_a_delivered_whole_earns_the_allocated_price(code, data):
    allocated = data.draw(money(code))
    parts = data.draw(deliveries())

    curve = delivery_curve(allocated=allocated, deliveries=parts)

    assert_curve_ends_at(curve, allocated)


@given(code=st.sampled_from(CODES), data=st.data(), count=st.integers(1, 6))
def test_each_milestone_earns_the_same_whichever_others_are_achieved(code, data, count):
    allocated = data.draw(money(code))
    values = [data.draw(money(code, 10**7)) for _ in range(count)]
    assume(sum(value.amount for value in values) > 0)
    achieved = [data.draw(st.none() | days) for _ in range(count)]

    def alone(index: int) -> Money:
        """What milestone ``index`` earns when it is the only one achieved."""
        curve = milestone_curve(
            allocated=allocated,
            values=values,
            achieved_on=[D(2026, 1, 1) if i == index else None for i in range(count)],
        )
        return earned_through(curve, D(2026, 1, 1), currency=code)

    shares = [alone(index) for index in range(count)]
    curve = milestone_curve(allocated=allocated, values=values, achieved_on=achieved)

    assert sum(shares, Money(0, code)) == allocated
    # By any date, the achieved milestones have earned exactly their own shares.
    for on in sorted({on for on in achieved if on}):
        assert earned_through(curve, on, currency=code) == sum(
            (share for share, a in zip(shares, achieved, strict=True) if a and a <= on),
            Money(0, code),
        )
    if all(achieved):
        assert_curve_ends_at(curve, allocated)


@given(
    code=st.sampled_from(CODES),
    data=st.data(),
    progress=st.lists(st.tuples(days, st.fractions(0, 1)), max_size=6),
)
def test_progress_earns_the_rounded_share_of_the_allocated_price(code, data, progress):
    allocated = data.draw(money(code))
    last = dict(sorted(progress, key=lambda pair: pair[0]))  # the last of a day counts

    curve = progress_curve(allocated=allocated, progress=progress)

    assert [step.on for step in curve] == sorted(last)
    for step in curve:
        exact = Fraction(allocated.amount) * last[step.on]
        # Within half a minor unit of the exact figure, and exactly all of it at 100%.
        assert abs(Fraction(step.cumulative.amount) - exact) <= Fraction(
            1, 2 * 10 ** minor_unit_exponent(code)
        )
        if last[step.on] == 1:
            assert step.cumulative == allocated


@given(
    code=st.sampled_from(CODES),
    data=st.data(),
    count=st.integers(0, 8),
)
def test_consumption_earns_what_was_billed_on_each_period_end(code, data, count):
    consumed = [(data.draw(days), data.draw(money(code, 10**7))) for _ in range(count)]

    curve = consumption_curve(currency=code, consumed=consumed)

    for step in curve:
        assert step.cumulative == sum(
            (amount for on, amount in consumed if on <= step.on), Money(0, code)
        )


@st.composite
def curves(draw, code: str | None = None):
    """Draw any earning curve, with some steps down as a lowered estimate gives."""
    code = code or draw(st.sampled_from(CODES))
    kind = draw(st.sampled_from(["ratable", "progress"]))
    if kind == "ratable":
        allocated, segments = draw(services(code))
        return code, ratable_curve(allocated=allocated, segments=segments)
    allocated = draw(money(code))
    progress = draw(st.lists(st.tuples(days, st.fractions(0, 1)), min_size=1, max_size=6))
    return code, progress_curve(allocated=allocated, progress=progress)


def run(curve, *, first_open, as_of, recognized, code):
    """Post like a revenue run: every open month from ``first_open`` through ``as_of``."""
    due = postings(
        curve=curve,
        months=months_between(first_open, as_of),
        recognized=recognized,
        currency=code,
        as_of=as_of,
    )
    for posting in due:
        assert posting.amount.amount != 0
        assert month_start(posting.on) == posting.period
        # A catch-up for closed months is dated the first day of the first open one.
        expected_on = posting.period if posting.catch_up else min(month_end(posting.period), as_of)
        assert posting.on == expected_on
        recognized[posting.period] = recognized.get(posting.period, Money(0, code)) + (
            posting.amount
        )
    return due


@given(drawn=curves(), run_dates=st.lists(days, min_size=1, max_size=4))
def test_postings_catch_up_with_the_curve_and_a_rerun_posts_nothing(drawn, run_dates):
    code, curve = drawn
    start = min([step.on for step in curve] + run_dates)
    recognized: dict[date, Money] = {}
    through = None
    for as_of in run_dates:
        through = max(filter(None, [through, as_of]))
        run(curve, first_open=start, as_of=through, recognized=recognized, code=code)
        # Everything posted adds up to what the curve has earned by the run's date.
        assert sum(recognized.values(), Money(0, code)) == earned_through(
            curve, through, currency=code
        )
        assert run(curve, first_open=start, as_of=through, recognized=recognized, code=code) == []


@given(before=curves(), data=st.data())
def test_a_changed_curve_after_a_close_leaves_closed_months_and_lands_in_the_open_one(before, data):
    code, old = before
    new = data.draw(curves(code))[1]
    start = min(step.on for step in old + new)
    closed_through = data.draw(st.dates(start, D(2031, 12, 31)))
    first_open = next_month(closed_through)
    as_of = data.draw(st.dates(first_open, D(2032, 12, 31)))
    recognized: dict[date, Money] = {}
    run(old, first_open=start, as_of=month_end(closed_through), recognized=recognized, code=code)
    closed = dict(recognized)

    due = run(new, first_open=first_open, as_of=as_of, recognized=recognized, code=code)

    assert all(posting.period >= first_open for posting in due)
    assert {p: a for p, a in recognized.items() if p < first_open} == closed
    assert sum(recognized.values(), Money(0, code)) == earned_through(new, as_of, currency=code)
