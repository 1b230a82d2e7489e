"""Anchored billing periods: a line continuing another keeps the billing cycle it continues."""

from datetime import date, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from billing.domain.periods import billing_periods


def test_a_line_continuing_from_the_16th_bills_the_rest_of_the_cycle_then_whole_months():
    periods = billing_periods(
        service_start=date(2026, 4, 16),
        service_end=date(2026, 6, 30),
        interval_months=1,
        bill_day=None,
        anchor=date(2026, 4, 1),
    )
    assert [(p.start, p.end, p.full_start, p.full_end) for p in periods] == [
        # 16-30 April: 15 of April's 30 days, prorated against the whole of April.
        (date(2026, 4, 16), date(2026, 5, 1), date(2026, 4, 1), date(2026, 5, 1)),
        (date(2026, 5, 1), date(2026, 6, 1), date(2026, 5, 1), date(2026, 6, 1)),
        (date(2026, 6, 1), date(2026, 7, 1), date(2026, 6, 1), date(2026, 7, 1)),
    ]
    assert (periods[0].days, periods[0].full_days) == (15, 30)


def test_a_quarterly_cycle_keeps_its_quarters():
    periods = billing_periods(
        service_start=date(2026, 2, 16),
        service_end=date(2026, 12, 31),
        interval_months=3,
        bill_day=None,
        anchor=date(2026, 1, 1),
    )
    assert [p.full_start for p in periods] == [
        date(2026, 1, 1),
        date(2026, 4, 1),
        date(2026, 7, 1),
        date(2026, 10, 1),
    ]
    assert periods[0].start == date(2026, 2, 16)


@given(
    anchor=st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31)),
    offset=st.integers(min_value=0, max_value=700),
    length=st.integers(min_value=0, max_value=900),
    interval=st.sampled_from([1, 2, 3, 6, 12]),
    bill_day=st.one_of(st.none(), st.integers(min_value=1, max_value=31)),
)
def test_property_anchored_periods_tile_the_service_on_the_anchor_cycle(
    anchor, offset, length, interval, bill_day
):
    """The continuing line's periods cover its service exactly, each inside one period of the
    cycle the whole line would have had from the anchor."""
    start = anchor + timedelta(days=offset)
    end = start + timedelta(days=length)
    anchored = billing_periods(
        service_start=start,
        service_end=end,
        interval_months=interval,
        bill_day=bill_day,
        anchor=anchor,
    )
    whole = billing_periods(
        service_start=anchor, service_end=end, interval_months=interval, bill_day=bill_day
    )
    assert anchored[0].start == start and anchored[-1].end == end + timedelta(days=1)
    assert all(a.end == b.start for a, b in pairwise(anchored))
    cycle = {(p.full_start, p.full_end) for p in whole}
    assert all((p.full_start, p.full_end) in cycle for p in anchored)
