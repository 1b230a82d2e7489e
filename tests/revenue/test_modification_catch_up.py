"""A scope change on a milestone project accounted for as a cumulative catch-up (ASC
606-10-25-13(b)): what remains is not distinct from what was done, so the project is re-measured
as a whole and the difference posts in the first open period, never in a closed one.

The project's price changes in place (a project's value is not spread over time, so it is not
split at the effective date as a subscription is), then ``contract_modified`` is announced as
MODIFICATIONS announces it.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from djmoney.money import Money

from contracts.models import RevenuePolicy
from revenue.models import Allocation, ProgressEntry, RevenueScheduleEntry
from tests.revenue.test_modification_prospective import (
    assert_balanced,
    by_month,
    journal_before,
    modify,
)

pytestmark = pytest.mark.django_db

D = date
Status = RevenueScheduleEntry.Status


def usd(amount) -> Money:
    return Money(Decimal(amount), "USD")


@pytest.fixture
def project(product_factory, contract_factory, contract_line_factory, activate):
    """A 100,000 project (SSP 100,000) billed by milestones, earned by percent complete."""
    contract = contract_factory()
    product = product_factory(
        name="Build",
        ssp=usd("100000"),
        revenue_policy=RevenuePolicy.MILESTONE,
        default_billing_model="milestone",
    )
    line = contract_line_factory(
        contract=contract,
        product=product,
        milestone=True,
        unit_price=usd("100000"),
        revenue_policy_override=RevenuePolicy.PERCENT_COMPLETE,
    )
    activate(contract)
    return line


def progress(obligation, on, incurred, estimated):
    ProgressEntry.objects.create(
        obligation=obligation, measured_on=on, incurred=incurred, estimated_total=estimated
    )


def test_a_price_rise_after_40_percent_progress_catches_up_8000_in_the_open_period(
    project, recognize, close
):
    contract = project.contract
    [po] = contract.obligations.all()
    # By 31 March 40% of the cost is incurred: 40% x 100,000 = 40,000 earned; March is closed.
    progress(po, D(2026, 3, 31), 40, 100)
    close(D(2026, 3, 31))
    assert by_month(po) == {D(2026, 3, 1): usd("40000")}
    closed = journal_before(D(2026, 4, 1))

    # On 1 April the scope grows and the price rises to 120,000; the extra work is part of the
    # same project (not distinct): cumulative catch-up.
    project.unit_price = usd("120000")
    project.save(update_fields=["unit_price"])
    modify(contract, modification_id=7, effective=D(2026, 4, 1), treatment="catch_up")

    # Re-measured as a whole: 40% x 120,000 = 48,000 earned by now, 8,000 (= 0.4 x 20,000)
    # more than recognized. March is closed, so it posts on 1 April, the first open month.
    po.refresh_from_db()
    assert po.allocated == usd("120000")
    [catch_up] = po.schedule.filter(status=Status.RECOGNIZED, period=D(2026, 4, 1))
    assert (catch_up.amount, catch_up.catch_up, catch_up.recognized_on) == (
        usd("8000"),
        True,
        D(2026, 4, 1),
    )
    assert "Modification M-7 effective 2026-04-01, cumulative catch-up" in catch_up.description
    assert (
        Allocation.objects.filter(contract=contract)
        .latest()
        .reason.startswith("Modification M-7 effective 2026-04-01, cumulative catch-up")
    )
    # March is as it was closed.
    assert journal_before(D(2026, 4, 1)) == closed
    # The rest (120,000 - 48,000 = 72,000) is earned as the work goes on: done by 31 May.
    progress(po, D(2026, 5, 31), 100, 100)
    recognize(D(2026, 5, 31))
    assert by_month(po) == {
        D(2026, 3, 1): usd("40000"),
        D(2026, 4, 1): usd("8000"),
        D(2026, 5, 1): usd("72000"),
    }
    assert_balanced()


def test_a_catch_up_keeps_a_split_line_in_its_obligation(
    product_factory, contract_factory, contract_line_factory, activate, recognize
):
    """A subscription re-priced from July by a catch-up stays one obligation over the year."""
    from tests.revenue.test_modification_prospective import split_line

    contract = contract_factory()
    product = product_factory(name="Support", ssp=usd("1000"), revenue_policy="ratable")
    line = contract_line_factory(contract=contract, product=product, unit_price=usd("1000"))
    activate(contract)
    recognize(D(2026, 6, 30))
    split_line(line, effective=D(2026, 7, 1), unit_price=usd("1200"))
    modify(contract, modification_id=8, effective=D(2026, 7, 1), treatment="catch_up")
    [po] = contract.obligations.all()
    # 6 x 1,000 + 6 x 1,200 = 13,200 over the year, as one obligation earned by days.
    assert (po.allocated, po.service_start, po.service_end) == (
        usd("13200"),
        D(2026, 1, 1),
        D(2026, 12, 31),
    )
    assert po.obligation_lines.count() == 2
    recognize(D(2026, 12, 31))
    assert sum(by_month(po).values(), usd("0")) == usd("13200")


def test_the_revenue_page_explains_each_modification_and_what_it_posted(
    project, close, staff_client
):
    contract = project.contract
    [po] = contract.obligations.all()
    progress(po, D(2026, 3, 31), 40, 100)
    close(D(2026, 3, 31))
    project.unit_price = usd("120000")
    project.save(update_fields=["unit_price"])
    modify(contract, modification_id=7, effective=D(2026, 4, 1), treatment="catch_up")
    modify(contract, modification_id=12, effective=D(2026, 4, 1), treatment="separate_contract")
    url = reverse("admin:revenue_contract", args=[contract.pk])

    response = staff_client.get(url)

    [catch_up, separate] = response.context["modifications"]
    assert (catch_up.record.label, catch_up.record.treatment) == ("M-7", "catch_up")
    assert catch_up.explanation.startswith(
        "Modification M-7 effective 2026-04-01, cumulative catch-up: Contract terms changed"
    )
    # The 8,000 catch-up of the worked example above is what M-7 posted.
    assert [(e.amount, e.catch_up) for e in catch_up.postings] == [(usd("8000"), True)]
    assert (separate.record.label, separate.explanation, separate.postings) == ("M-12", "", [])
    page = response.content.decode()
    assert "Cumulative catch-up" in page and "Separate contract" in page
    assert "8000.00" in page
    # The section costs the same queries whatever the number of modifications.
    before = len(queries_of(staff_client, url))
    modify(contract, modification_id=13, effective=D(2026, 5, 1), treatment="separate_contract")
    assert len(queries_of(staff_client, url)) == before


def queries_of(client, url) -> list:
    """Return the queries one request for ``url`` makes."""
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return captured.captured_queries
