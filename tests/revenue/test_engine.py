"""The revenue engine end to end: contracts billed and recognized through the real services.

Each case is worked out by hand in its comments first; the assertions then check the schedule,
the contract's position (revenue - billings, read off the journal) and the journal itself.
"""

from datetime import UTC, date, datetime, time
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone
from djmoney.money import Money

from billing.invoicing import invoice_void
from billing.milestones import milestone_achieve, milestone_cancel
from billing.models import BillingEvent, Invoice
from billing.shipments import shipment_record
from contracts.models import ContractLine, Milestone, RevenuePolicy
from contracts.services import contract_terms_announce
from revenue.domain.recognition import month_end
from revenue.models import (
    Allocation,
    JournalEntry,
    JournalLine,
    ObligationAllocation,
    PerformanceObligation,
    ProgressEntry,
    RevenuePeriod,
    RevenueScheduleEntry,
)
from revenue.obligations import obligation_set_residual, obligations_group
from revenue.selectors import Rpo, position_of, rpo_of, trial_balance
from rms.money import round_money

pytestmark = pytest.mark.django_db

D = date
Status = RevenueScheduleEntry.Status


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def recognized(obligation: PerformanceObligation) -> list[tuple[date, Money]]:
    """Return an obligation's recognized entries as (period, amount), in posting order."""
    return [
        (entry.period, entry.amount)
        for entry in obligation.schedule.filter(status=Status.RECOGNIZED).order_by("id")
    ]


def planned(obligation: PerformanceObligation) -> dict[date, Money]:
    return {
        entry.period: entry.amount for entry in obligation.schedule.filter(status=Status.PLANNED)
    }


def total(amounts) -> Money:
    return sum(amounts, usd("0"))


def position(contract, day: date) -> tuple[Money, Money, Money, str]:
    """Return (revenue, billed, net, kind) of the contract at ``day``."""
    found = position_of(contract=contract, as_of=day)
    return found.revenue, found.billed, found.net, found.kind


def account_lines(entry: JournalEntry) -> list[tuple[str, Decimal, Decimal]]:
    """Return an entry's lines as (account role, debit, credit), in the order posted."""
    return [
        (line.account.role, line.debit, line.credit)
        for line in entry.lines.select_related("account").order_by("id")
    ]


def assert_journal_balances() -> None:
    """Every entry's debits equal its credits, and so do the trial balance's."""
    for entry in JournalEntry.objects.all():
        sums = entry.lines.aggregate(debit=Sum("debit"), credit=Sum("credit"))
        # Rounded to the cent only to drop SQLite's float noise in SUM.
        assert round_money(sums["debit"], "USD") == round_money(sums["credit"], "USD"), entry
    rows = trial_balance()
    assert sum(row.debit for row in rows) == sum(row.credit for row in rows)


def one_time(make, contract, *, name, ssp, price, start=None):
    """Add a one-time line, billed on order at its service start, for a product of SSP ``ssp``."""
    product = make.product(
        name=name, ssp=usd(ssp), revenue_policy="point_in_time", default_billing_model="one_time"
    )
    return make.line(
        contract=contract,
        product=product,
        one_time=True,
        unit_price=usd(price),
        service_start=start or contract.start_date,
    )


@pytest.fixture
def make(product_factory, contract_line_factory):
    """The factories the cases build their contracts with."""
    return SimpleNamespace(product=product_factory, line=contract_line_factory)


# --- a. A bundle sold at a discount: relative SSP ------------------------------------------


@pytest.fixture
def bundle(make, contract_factory):
    """A licence, an installation and a training: SSPs 1,000 / 500 / 500 sold for 1,800.

    The licence is delivered on 1 Jan, the installation on 1 Feb, the training on 1 Mar; each
    one-time line bills on order at its own start.
    """
    contract = contract_factory()
    lines = [
        one_time(make, contract, name="Licence", ssp="1000", price="1000.00"),
        one_time(make, contract, name="Install", ssp="500", price="400.00", start=D(2026, 2, 1)),
        one_time(make, contract, name="Training", ssp="500", price="400.00", start=D(2026, 3, 1)),
    ]
    return contract, lines


def test_a_discounted_bundle_is_allocated_by_relative_ssp_with_its_inputs_kept(bundle, activate):
    contract, lines = bundle
    activate(contract)

    # Price 1,000 + 400 + 400 = 1,800; SSPs 1,000 + 500 + 500 = 2,000. Each gets its SSP's
    # share of the price: 1,800 x 1/2 = 900, 1,800 x 1/4 = 450, 1,800 x 1/4 = 450. The
    # 200 discount, which the contract put on the two services, falls 100 / 50 / 50.
    obligations = list(contract.obligations.order_by("sequence"))
    assert [(o.name, o.ssp, o.fixed_price, o.allocated) for o in obligations] == [
        ("Licence", usd("1000"), usd("1000"), usd("900")),
        ("Install", usd("500"), usd("400"), usd("450")),
        ("Training", usd("500"), usd("400"), usd("450")),
    ]
    assert {o.allocation_method for o in obligations} == {"relative_ssp"}
    assert [[line.pk] for line in lines] == [
        list(o.obligation_lines.values_list("line_id", flat=True)) for o in obligations
    ]

    allocation = Allocation.objects.get(contract=contract)
    assert (allocation.method, allocation.transaction_price) == ("relative_ssp", usd("1800"))
    shares = ObligationAllocation.objects.filter(allocation=allocation)
    assert [
        (s.obligation_id, s.ssp, s.fixed_price, s.allocated, s.share, s.share_percent)
        for s in shares
    ] == [
        (obligations[0].pk, usd("1000"), usd("1000"), usd("900"), "1/2", Decimal("50.0000")),
        (obligations[1].pk, usd("500"), usd("400"), usd("450"), "1/4", Decimal("25.0000")),
        (obligations[2].pk, usd("500"), usd("400"), usd("450"), "1/4", Decimal("25.0000")),
    ]


def test_a_discounted_bundle_earns_its_allocation_as_each_part_is_delivered(
    bundle, activate, bill, recognize
):
    contract, _ = bundle
    activate(contract)
    licence, install, training = contract.obligations.order_by("sequence")

    # Month by month, billed at price and earned at allocation, each part on its start date:
    #   Jan: billed 1,000, earned   900 -> net   -100 (liability: the licence was overbilled)
    #   Feb: billed 1,400, earned 1,350 -> net    -50
    #   Mar: billed 1,800, earned 1,800 -> net      0
    for day in (D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31)):
        bill(day)
        recognize(day)
    assert position(contract, D(2026, 1, 31)) == (
        usd("900"),
        usd("1000"),
        usd("-100"),
        "contract_liability",
    )
    assert position(contract, D(2026, 2, 28)) == (
        usd("1350"),
        usd("1400"),
        usd("-50"),
        "contract_liability",
    )
    assert position(contract, D(2026, 3, 31)) == (usd("1800"), usd("1800"), usd("0"), "none")
    assert recognized(licence) == [(D(2026, 1, 1), usd("900"))]
    assert recognized(install) == [(D(2026, 2, 1), usd("450"))]
    assert recognized(training) == [(D(2026, 3, 1), usd("450"))]
    # The run of 31 Mar posts the training delivered in March, Dr contract / Cr revenue.
    entry = training.schedule.get().journal_entry
    assert (entry.kind, entry.date, entry.period) == ("recognition", D(2026, 3, 31), D(2026, 3, 1))
    assert account_lines(entry) == [
        ("contract", Decimal("450"), Decimal("0")),
        ("revenue", Decimal("0"), Decimal("450")),
    ]
    assert_journal_balances()


# --- b. The residual approach ---------------------------------------------------------------


def test_the_residual_obligation_takes_the_price_less_the_others_ssps(bundle, activate):
    contract, _ = bundle
    activate(contract)
    licence = contract.obligations.get(name="Licence")

    obligation_set_residual(obligation=licence)

    # The install and the training get their SSPs, 500 each; the licence gets the rest:
    # 1,800 - 500 - 500 = 800, a share of 800 / 1,800 = 4/9 = 44.4444 %.
    obligations = list(contract.obligations.order_by("sequence"))
    assert [(o.name, o.residual, o.allocated) for o in obligations] == [
        ("Licence", True, usd("800")),
        ("Install", False, usd("500")),
        ("Training", False, usd("500")),
    ]
    latest = Allocation.objects.filter(contract=contract).latest()
    assert (latest.method, latest.transaction_price) == ("residual", usd("1800"))
    assert [(s.allocated, s.method, s.share, s.share_percent) for s in latest.shares.all()] == [
        (usd("800"), "residual", "4/9", Decimal("44.4444")),
        (usd("500"), "residual", "5/18", Decimal("27.7778")),
        (usd("500"), "residual", "5/18", Decimal("27.7778")),
    ]
    # The first allocation (relative SSP) is kept beside it.
    assert Allocation.objects.filter(contract=contract).count() == 2


def test_the_residual_approach_is_refused_when_the_others_ssps_exceed_the_price(bundle, activate):
    contract, _ = bundle
    activate(contract)
    install = contract.obligations.get(name="Install")
    before = list(contract.obligations.values_list("pk", "residual", "allocated"))

    # Residual on the install: the others' SSPs, 1,000 + 500 = 1,500, fit in 1,800 ...
    # ... but with the licence priced 400 instead of 1,000 the price is 400 + 400 + 400
    # = 1,200 < 1,500: no residual is left to give.
    contract.lines.filter(product__name="Licence").update(unit_price=Decimal("400.00"))
    with pytest.raises(ValidationError) as refused:
        obligation_set_residual(obligation=install)

    assert refused.value.message_dict == {
        "residual": [
            "The residual approach cannot apply: the transaction price 1200.00 USD is less "
            "than the other obligations' SSPs 1500.00 USD."
        ]
    }
    assert list(contract.obligations.values_list("pk", "residual", "allocated")) == before
    assert Allocation.objects.filter(contract=contract).count() == 1


# --- c. An annual SaaS subscription with an activation fee ----------------------------------


@pytest.fixture
def saas(make, contract_factory, activate):
    """12,000 a year billed up front on 1 Jan 2026, plus a 1,200 activation fee.

    The fee gives no service of its own (SSP 0), so it is grouped into the subscription's
    obligation, which is recognized ratably.
    """
    contract = contract_factory()
    platform = make.product(name="Platform", ssp=usd("12000"), revenue_policy="ratable")
    make.line(contract=contract, product=platform, interval_months=12, unit_price=usd("12000"))
    one_time(make, contract, name="Activation", ssp="0", price="1200.00")
    activate(contract)
    subscription, fee = contract.obligations.order_by("sequence")
    obligation = obligations_group(
        obligations=[subscription, fee], name="Platform", pattern=RevenuePolicy.RATABLE
    )
    return contract, obligation


# 13,200.00 over 365 days, in cents: 1,320,000 x days / 365.
#   31-day month: 112,109.589 -> floor 112,109, remainder .589
#   28-day Feb:   101,260.274 -> floor 101,260, remainder .274
#   30-day month: 108,493.150 -> floor 108,493, remainder .150
# Floors: 7 x 112,109 + 101,260 + 4 x 108,493 = 1,319,995: 5 cents short. They go to the
# largest remainders, the 31-day months, earliest first: Jan, Mar, May, Jul, Aug get 1,121.10;
# Oct and Dec stay at 1,121.09. Check: 5 x 1,121.10 + 2 x 1,121.09 + 1,012.60 + 4 x 1,084.93
# = 5,605.50 + 2,242.18 + 1,012.60 + 4,339.72 = 13,200.00.
SAAS_MONTHS = {
    1: "1121.10",
    2: "1012.60",
    3: "1121.10",
    4: "1084.93",
    5: "1121.10",
    6: "1084.93",
    7: "1121.10",
    8: "1121.10",
    9: "1084.93",
    10: "1121.09",
    11: "1084.93",
    12: "1121.09",
}


def test_saas_with_activation_fee_is_deferred_then_released_ratably_by_days(saas, bill, recognize):
    contract, obligation = saas
    # One obligation of both lines, priced 12,000 + 1,200 = 13,200 and allocated all of it.
    assert list(contract.obligations.all()) == [obligation]
    assert obligation.obligation_lines.count() == 2
    assert (obligation.pattern, obligation.fixed_price, obligation.allocated) == (
        "ratable",
        usd("13200"),
        usd("13200"),
    )

    [invoice] = bill(D(2026, 1, 1)).invoices.all()
    assert invoice.total == usd("13200")
    # The invoice is billings, not revenue: Dr receivable / Cr contract, dated its issue.
    issued = JournalEntry.objects.get(kind="invoice")
    assert (issued.invoice_id, issued.date) == (invoice.pk, D(2026, 1, 1))
    assert account_lines(issued) == [
        ("receivable", Decimal("13200"), Decimal("0")),
        ("contract", Decimal("0"), Decimal("13200")),
    ]
    # Before a month ends nothing is earned: all 13,200 is deferred.
    recognize(D(2026, 1, 30))
    assert position(contract, D(2026, 1, 30)) == (
        usd("0"),
        usd("13200"),
        usd("-13200"),
        "contract_liability",
    )

    earned = usd("0")
    for month, amount in SAAS_MONTHS.items():
        day = D(2026, month + 1, 1) if month < 12 else D(2027, 1, 1)
        recognize(day)
        earned += usd(amount)
        assert recognized(obligation)[-1] == (D(2026, month, 1), usd(amount))
        revenue, billed, net, kind = position(contract, day)
        # The liability shrinks by the month's revenue: 13,200 - 1,121.10 = 12,078.90 after
        # January, 12,078.90 - 1,012.60 = 11,066.30 after February, ... 0 after December.
        assert (revenue, billed, net) == (earned, usd("13200"), earned - usd("13200"))
        assert kind == ("contract_liability" if month < 12 else "none")
        # Planned and recognized together are always the whole allocation.
        assert total(planned(obligation).values()) == usd("13200") - earned
        # What is left is the RPO, all of it due within 12 months.
        assert rpo_of(contract_ids=[contract.pk], as_of=day)[contract.pk] == Rpo(
            total=usd("13200") - earned, within_12_months=usd("13200") - earned, later=usd("0")
        )

    assert earned == usd("13200")
    assert position(contract, D(2026, 2, 1))[2] == usd("-12078.90")
    assert position(contract, D(2026, 3, 1))[2] == usd("-11066.30")
    assert len(recognized(obligation)) == 12
    # Each month is recognized on its last day.
    assert list(obligation.schedule.values_list("recognized_on", flat=True).order_by("period")) == [
        month_end(D(2026, m, 1)) for m in range(1, 13)
    ]
    # Ledger over the year: receivable 13,200 Dr; contract 13,200 Dr (revenue) and 13,200 Cr
    # (billing), balance 0; revenue 13,200 Cr.
    balances = {(row.account.role): (row.debit, row.credit) for row in trial_balance()}
    assert balances == {
        "receivable": (Decimal("13200.00"), Decimal("0.00")),
        "contract": (Decimal("13200.00"), Decimal("13200.00")),
        "revenue": (Decimal("0.00"), Decimal("13200.00")),
    }
    assert_journal_balances()


# --- d. Milestones: billed at value, earned at allocation -----------------------------------


def milestones(line, planned_dates, percents=(30, 40, 30)):
    """Give a milestone line its schedule: each milestone a percent of the line's value."""
    value = line.unit_price.amount
    return [
        Milestone.objects.create(
            line=line,
            sequence=sequence,
            name=f"Phase {sequence}",
            planned_date=planned,
            percent=Decimal(percent),
            amount=usd(value * percent / 100),
        )
        for sequence, (planned, percent) in enumerate(
            zip(planned_dates, percents, strict=True), start=1
        )
    ]


def achieve(milestone, on):
    """Achieve a milestone on the day itself, as a project admin would: it is invoiced that day."""
    with time_machine.travel(datetime.combine(on, time(12), tzinfo=UTC), tick=False):
        return milestone_achieve(milestone=milestone, achieved_on=on, achieved_by="pm@example.com")


def project_line(make, contract):
    """Put a 100,000 USD milestone project (SSP 100,000, earned on milestones) on ``contract``."""
    project = make.product(
        name="Project",
        ssp=usd("100000"),
        revenue_policy="milestone",
        default_billing_model="milestone",
    )
    return make.line(contract=contract, product=project, milestone=True, unit_price=usd("100000"))


def test_a_milestone_project_in_a_bundle_earns_its_allocated_share_not_its_billing(
    make, contract_factory, activate, bill, recognize
):
    contract = contract_factory()
    line = project_line(make, contract)
    one_time(make, contract, name="Licence", ssp="50000", price="20000.00", start=D(2026, 3, 1))
    design, build, handover = milestones(line, [D(2026, 1, 20), D(2026, 2, 15), D(2026, 4, 10)])
    activate(contract)
    # Price 100,000 + 20,000 = 120,000; SSPs 100,000 + 50,000 = 150,000. The project is
    # allocated 120,000 x 2/3 = 80,000 but bills 100,000; the licence 40,000 but bills 20,000.
    po, licence = contract.obligations.order_by("sequence")
    assert (po.allocated, licence.allocated) == (usd("80000"), usd("40000"))

    # Each milestone earns its share of the 80,000 allocated (30/40/30 -> 24,000 / 32,000 /
    # 24,000) on its achievement, and bills its share of the 100,000 at once, the same day.
    #   20 Jan design achieved:   earned 24,000, billed 30,000 -> liability   6,000
    #   15 Feb build achieved:    earned 56,000, billed 70,000 -> liability  14,000
    #   31 Mar licence delivered: earned 96,000, billed 90,000 -> asset       6,000
    #   10 Apr handover:          earned 120,000, billed 120,000 -> 0
    achieve(design, D(2026, 1, 20))
    assert position(contract, D(2026, 1, 20)) == (
        usd("24000"),
        usd("30000"),
        usd("-6000"),
        "contract_liability",
    )
    bill(D(2026, 1, 31))
    assert position(contract, D(2026, 1, 31))[2:] == (usd("-6000"), "contract_liability")
    achieve(build, D(2026, 2, 15))
    bill(D(2026, 2, 28))
    assert position(contract, D(2026, 2, 28)) == (
        usd("56000"),
        usd("70000"),
        usd("-14000"),
        "contract_liability",
    )
    bill(D(2026, 3, 31))
    # The licence, delivered on its start, waits for the revenue run (no event announces it).
    recognize(D(2026, 3, 31))
    assert position(contract, D(2026, 3, 31)) == (
        usd("96000"),
        usd("90000"),
        usd("6000"),
        "contract_asset",
    )
    achieve(handover, D(2026, 4, 10))
    assert position(contract, D(2026, 4, 10)) == (usd("120000"), usd("120000"), usd("0"), "none")
    assert bill(D(2026, 4, 30)).events_invoiced == 0
    assert recognized(po) == [
        (D(2026, 1, 1), usd("24000")),
        (D(2026, 2, 1), usd("32000")),
        (D(2026, 4, 1), usd("24000")),
    ]
    # Recognized at once on the achievement day.
    assert list(
        po.schedule.filter(status=Status.RECOGNIZED).values_list("recognized_on", flat=True)
    ) == [D(2026, 1, 20), D(2026, 2, 15), D(2026, 4, 10)]
    assert not planned(po)
    assert_journal_balances()


def test_a_cancelled_milestone_leaves_the_project_and_its_price(
    make, contract_factory, activate, recognize, django_capture_on_commit_callbacks
):
    contract = contract_factory()
    line = project_line(make, contract)
    design, build, handover = milestones(line, [D(2026, 1, 20), D(2026, 2, 15), D(2026, 4, 10)])
    activate(contract)
    achieve(design, D(2026, 1, 20))
    # The customer drops the handover phase: 30,000 less to bill, so 30,000 less to earn.
    with django_capture_on_commit_callbacks(execute=True):
        milestone_cancel(milestone=handover, cancelled_by="finance", reason="descoped")
    [po] = contract.obligations.all()
    po.refresh_from_db()
    assert po.allocated == usd("70000")
    achieve(build, D(2026, 2, 15))
    recognize(D(2026, 4, 30))
    # Design and build now earn 30/70 and 40/70 of 70,000: all of it, as billed.
    assert position(contract, D(2026, 4, 30)) == (usd("70000"), usd("70000"), usd("0"), "none")
    assert total(amount for _, amount in recognized(po)) == usd("70000")
    assert_journal_balances()


def test_percent_complete_billed_by_milestones_shows_an_asset_that_then_reverses(
    make, contract_factory, activate, bill, recognize
):
    contract = contract_factory()
    project = make.product(
        name="Build",
        ssp=usd("100000"),
        revenue_policy="milestone",
        default_billing_model="milestone",
    )
    line = make.line(
        contract=contract,
        product=project,
        milestone=True,
        unit_price=usd("100000"),
        revenue_policy_override=RevenuePolicy.PERCENT_COMPLETE,
    )
    first, second, third = milestones(line, [D(2026, 2, 5), D(2026, 2, 20), D(2026, 3, 25)])
    activate(contract)
    [po] = contract.obligations.all()
    assert (po.pattern, po.allocated) == ("percent_complete", usd("100000"))

    def progress(on, incurred, estimated):
        ProgressEntry.objects.create(
            obligation=po, measured_on=on, incurred=incurred, estimated_total=estimated
        )

    # Jan: half the cost incurred, nothing billed yet: 50% x 100,000 = 50,000 earned and
    # unbilled, a contract asset.
    progress(D(2026, 1, 31), 50, 100)
    recognize(D(2026, 1, 31))
    assert position(contract, D(2026, 1, 31)) == (
        usd("50000"),
        usd("0"),
        usd("50000"),
        "contract_asset",
    )
    # Feb: milestones 1 and 2 bill 30,000 + 40,000 = 70,000 while progress only reaches 60%
    # (60,000): the asset reverses into a liability of 10,000.
    achieve(first, D(2026, 2, 5))
    achieve(second, D(2026, 2, 20))
    progress(D(2026, 2, 28), 60, 100)
    bill(D(2026, 2, 28))
    recognize(D(2026, 2, 28))
    assert position(contract, D(2026, 2, 28)) == (
        usd("60000"),
        usd("70000"),
        usd("-10000"),
        "contract_liability",
    )
    # Mar: done, and the last 30,000 billed: 100,000 against 100,000.
    achieve(third, D(2026, 3, 25))
    progress(D(2026, 3, 31), 80, 80)
    bill(D(2026, 3, 31))
    recognize(D(2026, 3, 31))
    assert position(contract, D(2026, 3, 31)) == (usd("100000"), usd("100000"), usd("0"), "none")
    assert recognized(po) == [
        (D(2026, 1, 1), usd("50000")),
        (D(2026, 2, 1), usd("10000")),
        (D(2026, 3, 1), usd("40000")),
    ]
    assert_journal_balances()


# --- e. Hardware billed on shipment, with a backorder ---------------------------------------


def test_hardware_shipped_in_two_parts_is_earned_and_billed_as_it_ships(
    make, contract_factory, activate, bill
):
    contract = contract_factory()
    router = make.product(
        name="Router",
        ssp=usd("150"),
        revenue_policy="point_in_time",
        default_billing_model="one_time",
    )
    line = make.line(
        contract=contract,
        product=router,
        one_time=True,
        one_time_trigger="on_shipment",
        quantity=Decimal(10),
        unit_price=usd("150.00"),
    )
    activate(contract)
    [po] = contract.obligations.all()
    assert po.allocated == usd("1500")  # 10 x 150

    # 6 of 10 ship on 10 Mar: 60% of 1,500 = 900 earned at once, billed 6 x 150 = 900 at the
    # month's bill run; the 4 backordered are planned for the days ahead.
    shipment_record(line=line, shipped_on=D(2026, 3, 10), quantity=Decimal(6))
    assert position(contract, D(2026, 3, 10)) == (
        usd("900"),
        usd("0"),
        usd("900"),
        "contract_asset",
    )
    assert planned(po) == {D(2026, 3, 1): usd("600")}
    bill(D(2026, 3, 31))
    assert position(contract, D(2026, 3, 31)) == (usd("900"), usd("900"), usd("0"), "none")
    # Nothing more ships in April: revenue stays at 60%.
    bill(D(2026, 4, 30))
    assert position(contract, D(2026, 4, 30))[:2] == (usd("900"), usd("900"))

    # The other 4 ship on 5 May: 100% = 1,500 earned, 900 + 4 x 150 = 1,500 billed.
    shipment_record(line=line, shipped_on=D(2026, 5, 5), quantity=Decimal(4))
    bill(D(2026, 5, 31))
    assert position(contract, D(2026, 5, 31)) == (usd("1500"), usd("1500"), usd("0"), "none")
    assert recognized(po) == [(D(2026, 3, 1), usd("900")), (D(2026, 5, 1), usd("600"))]
    assert not planned(po)
    assert_journal_balances()


# --- f. Usage, as consumed -------------------------------------------------------------------


def usage_charge(line, *, period_start, period_end, bill_date, calls, amount):
    """Bill a period's API calls as rating will: one usage event at 0.10 a call."""
    return BillingEvent.objects.create(
        line=line,
        contract=line.contract,
        customer=line.contract.customer,
        kind=BillingEvent.Kind.USAGE,
        source_key=f"usage:{period_start:%Y-%m}",
        bill_date=bill_date,
        period_start=period_start,
        period_end=period_end,
        quantity=Decimal(calls),
        unit_price=usd("0.10"),
        amount=usd(amount),
        description=f"API calls {period_start:%b %Y}",
    )


def test_usage_is_earned_at_the_end_of_its_period_at_the_amount_billed(
    make, contract_factory, activate, bill, recognize
):
    contract = contract_factory()
    platform = make.product(name="Platform", ssp=usd("1000"), revenue_policy="ratable")
    make.line(contract=contract, product=platform, unit_price=usd("1000"))
    calls = make.product(
        name="API calls", ssp=usd("0"), revenue_policy="as_consumed", default_billing_model="usage"
    )
    api = make.line(contract=contract, product=calls, usage=True)
    activate(contract)
    subscription, usage = contract.obligations.order_by("sequence")
    # January's 2,500 calls are rated after the month, billed on 1 Feb.
    usage_charge(
        api,
        period_start=D(2026, 1, 1),
        period_end=D(2026, 1, 31),
        bill_date=D(2026, 2, 1),
        calls=2500,
        amount="250.00",
    )

    bill(D(2026, 1, 31))
    recognize(D(2026, 1, 31))
    # Usage is its own variable consideration: the subscription keeps 12 x 1,000 = 12,000 and
    # the usage obligation is allocated what it billed, 250 after January's run.
    subscription.refresh_from_db()
    usage.refresh_from_db()
    assert (subscription.allocated, usage.allocated) == (usd("12000"), usd("250"))
    assert usage.allocation_method == "variable_own"
    # January: the subscription earns 12,000 x 31/365 = 1,019.18 (see test_recognition) and
    # the usage its billed 250.00 on 31 Jan, before it is invoiced; billed so far only
    # January's 1,000. Position 1,019.18 + 250 - 1,000 = 269.18, an asset (unbilled usage and
    # the extra day's revenue of a 31-day month).
    assert recognized(usage) == [(D(2026, 1, 1), usd("250"))]
    assert position(contract, D(2026, 1, 31)) == (
        usd("1269.18"),
        usd("1000"),
        usd("269.18"),
        "contract_asset",
    )

    # February's 3,124 calls, billed on 1 Mar.
    usage_charge(
        api,
        period_start=D(2026, 2, 1),
        period_end=D(2026, 2, 28),
        bill_date=D(2026, 3, 1),
        calls=3124,
        amount="312.40",
    )
    bill(D(2026, 2, 28))
    recognize(D(2026, 2, 28))
    # February: 920.54 of subscription and 312.40 of usage earned; billed February's 1,000
    # and January's 250 usage. Revenue 1,269.18 + 920.54 + 312.40 = 2,502.12, billed
    # 1,000 + 1,000 + 250 = 2,250, position 252.12: February's usage not yet invoiced.
    assert recognized(usage) == [(D(2026, 1, 1), usd("250")), (D(2026, 2, 1), usd("312.40"))]
    assert position(contract, D(2026, 2, 28)) == (
        usd("2502.12"),
        usd("2250"),
        usd("252.12"),
        "contract_asset",
    )
    usage.refresh_from_db()
    assert usage.allocated == usd("562.40")  # 250.00 + 312.40
    assert_journal_balances()


# --- g. A void reverses the billing -----------------------------------------------------------


@pytest.fixture
def monthly(make, contract_factory, activate):
    """1,000 a month for 2026, billed monthly in advance and recognized ratably by days."""
    contract = contract_factory()
    platform = make.product(name="Platform", ssp=usd("1000"), revenue_policy="ratable")
    line = make.line(contract=contract, product=platform, unit_price=usd("1000"))
    activate(contract)
    return line


def test_voiding_an_invoice_reverses_its_billing_in_the_journal(
    monthly, bill, recognize, monkeypatch
):
    contract = monthly.contract
    [invoice] = bill(D(2026, 1, 1)).invoices.all()
    recognize(D(2026, 1, 31))
    # Jan: earned 1,019.18, billed 1,000 -> 19.18 asset.
    assert position(contract, D(2026, 1, 31))[2:] == (usd("19.18"), "contract_asset")

    voided_at = datetime(2026, 2, 10, 12, tzinfo=UTC)
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: voided_at)
        invoice_void(invoice=invoice, reason="Wrong customer")

    # The void posts on its own date the issue entry's lines reversed: Dr contract 1,000,
    # Cr receivable 1,000. The billing is gone from 10 Feb, so the whole 1,019.18 earned is
    # unbilled: an asset of 1,019.18. What was reported for 31 Jan stays as it was.
    void = JournalEntry.objects.get(kind="invoice_void")
    assert (void.invoice_id, void.date, void.period) == (invoice.pk, D(2026, 2, 10), D(2026, 2, 1))
    assert account_lines(void) == [
        ("receivable", Decimal("0"), Decimal("1000")),
        ("contract", Decimal("1000"), Decimal("0")),
    ]
    assert position(contract, D(2026, 2, 10)) == (
        usd("1019.18"),
        usd("0"),
        usd("1019.18"),
        "contract_asset",
    )
    assert position(contract, D(2026, 1, 31))[2] == usd("19.18")
    assert JournalEntry.objects.filter(kind="invoice", invoice=invoice).count() == 1
    # The receivable is back to zero; revenue is untouched by a void.
    balances = {row.account.role: row.balance for row in trial_balance(through=D(2026, 2, 10))}
    assert balances["receivable"] == Decimal("0.00")
    assert balances["revenue"] == Decimal("-1019.18")
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.VOID
    assert_journal_balances()


# --- h. A change after a closed period ------------------------------------------------------


def test_a_price_change_after_a_close_posts_its_catch_up_in_the_first_open_month(
    monthly, bill, recognize, close, django_capture_on_commit_callbacks
):
    contract = monthly.contract
    bill(D(2026, 2, 1))
    closed = close(D(2026, 2, 28))
    assert [(p.start, p.status) for p in closed] == [
        (D(2026, 1, 1), "closed"),
        (D(2026, 2, 1), "closed"),
    ]
    [po] = contract.obligations.all()
    # 12,000 by days: Jan 1,019.18, Feb 920.54 (see test_recognition), 1,939.72 in all.
    assert recognized(po) == [(D(2026, 1, 1), usd("1019.18")), (D(2026, 2, 1), usd("920.54"))]
    closed_lines = list(
        JournalLine.objects.filter(entry__period__lt=D(2026, 3, 1)).values_list(
            "entry_id", "account_id", "debit", "credit", "date"
        )
    )

    # On 10 Mar the price is raised to 1,200 a month. January and February are invoiced at
    # 1,000 and stay so; the ten months to come bill 1,200: 2,000 + 12,000 = 14,000.
    monthly.unit_price = usd("1200")
    monthly.save()
    with django_capture_on_commit_callbacks(execute=True):
        contract_terms_announce(contract=contract)
    po.refresh_from_db()
    assert po.allocated == usd("14000")

    # 14,000 by days, in cents 1,400,000 x days / 365:
    #   31-day: 118,904.109 -> 118,904 (.109); Feb: 107,397.260 -> 107,397 (.260);
    #   30-day: 115,068.493 -> 115,068 (.493). Floors sum to 1,399,997: 3 cents go to the
    #   earliest 30-day months, Apr, Jun and Sep.
    # So Jan 1,189.04 + Feb 1,073.97 = 2,263.01 should have been earned by 28 Feb, 323.29
    # more than the closed months recognized (1,939.72). The change posts that catch-up at
    # once, on 1 March (the first open month), as an entry of its own.
    [catch_up] = po.schedule.filter(status="recognized", period=D(2026, 3, 1))
    assert (catch_up.amount, catch_up.catch_up) == (usd("323.29"), True)
    assert "catch-up" in catch_up.description
    assert (catch_up.journal_entry.date, catch_up.journal_entry.period) == (
        D(2026, 3, 1),
        D(2026, 3, 1),
    )

    # March's own revenue follows at March's end; a rerun posts nothing more.
    recognize(D(2026, 3, 31))
    assert recognize(D(2026, 3, 31)).entries_posted == 0
    assert recognized(po) == [
        (D(2026, 1, 1), usd("1019.18")),
        (D(2026, 2, 1), usd("920.54")),
        (D(2026, 3, 1), usd("323.29")),  # the catch-up, posted first
        (D(2026, 3, 1), usd("1189.04")),
    ]
    march = po.schedule.filter(status="recognized", period=D(2026, 3, 1), catch_up=False).get()
    assert march.amount == usd("1189.04")
    assert "catch-up" not in march.description
    # The closed months are as they were closed.
    assert (
        list(
            JournalLine.objects.filter(entry__period__lt=D(2026, 3, 1)).values_list(
                "entry_id", "account_id", "debit", "credit", "date"
            )
        )
        == closed_lines
    )
    assert position(contract, D(2026, 3, 31))[0] == usd("3452.05")  # 1,939.72 + 1,512.33
    # And the rest of the year is planned at the new price: 14,000 - 3,452.05 = 10,547.95.
    assert total(planned(po).values()) == usd("10547.95")
    assert_journal_balances()

    # Over the year, revenue equals what was billed: the position ends at zero.
    bill(D(2026, 12, 1))
    recognize(D(2026, 12, 31))
    assert position(contract, D(2026, 12, 31))[:2] == (usd("14000"), usd("14000"))


def test_closing_a_month_already_closed_is_refused(monthly, close):
    close(D(2026, 2, 28))

    for month in (D(2026, 1, 15), D(2026, 2, 28)):
        with pytest.raises(ValidationError) as refused:
            close(month)
        assert refused.value.message_dict == {
            "through": [f"{month:%B %Y} is already closed; the first open period is March 2026."]
        }
    assert list(RevenuePeriod.objects.values_list("start", "status")) == [
        (D(2026, 2, 1), "closed"),
        (D(2026, 1, 1), "closed"),
    ]


# --- i. Idempotency and changes of estimate --------------------------------------------------


def test_a_rerun_or_an_earlier_run_posts_nothing(monthly, bill, recognize):
    contract = monthly.contract
    bill(D(2026, 3, 1))
    first = recognize(D(2026, 3, 31))
    assert first.entries_posted == 3  # Jan, Feb, Mar
    books = (
        list(JournalEntry.objects.values_list("pk", "source_key")),
        list(RevenueScheduleEntry.objects.values_list("period", "amount", "status")),
    )

    again = recognize(D(2026, 3, 31))
    earlier = recognize(D(2026, 2, 15))

    assert (again.entries_posted, earlier.entries_posted) == (0, 0)
    after = (
        list(JournalEntry.objects.values_list("pk", "source_key")),
        list(RevenueScheduleEntry.objects.values_list("period", "amount", "status")),
    )
    assert after == books
    # A run for an earlier date never moves the contract back.
    contract.revenue_state.refresh_from_db()
    assert contract.revenue_state.recognized_through == D(2026, 3, 31)
    # Jan 1,019.18 + Feb 920.54 + Mar 1,019.18 = 2,958.90.
    assert position(contract, D(2026, 3, 31))[0] == usd("2958.90")


def test_a_lowered_percent_complete_posts_a_negative_catch_up(
    make, contract_factory, activate, recognize
):
    contract = contract_factory()
    project = make.product(
        name="Build",
        ssp=usd("100000"),
        revenue_policy="percent_complete",
        default_billing_model="milestone",
    )
    make.line(contract=contract, product=project, milestone=True, unit_price=usd("100000"))
    activate(contract)
    [po] = contract.obligations.all()

    # Jan: 40 of an estimated 100 hours: 40% of 100,000 = 40,000.
    ProgressEntry.objects.create(
        obligation=po, measured_on=D(2026, 1, 31), incurred=40, estimated_total=100
    )
    recognize(D(2026, 1, 31))
    # Feb: the estimate rises to 150 hours with 45 spent: 45/150 = 30%, 30,000 earned in all,
    # so February takes back 40,000 - 30,000 = 10,000: Dr revenue / Cr contract.
    ProgressEntry.objects.create(
        obligation=po, measured_on=D(2026, 2, 28), incurred=45, estimated_total=150
    )
    recognize(D(2026, 2, 28))
    recognize(D(2026, 2, 28))

    assert recognized(po) == [(D(2026, 1, 1), usd("40000")), (D(2026, 2, 1), usd("-10000"))]
    reversal = po.schedule.get(period=D(2026, 2, 1)).journal_entry
    assert account_lines(reversal) == [
        ("contract", Decimal("0"), Decimal("10000")),
        ("revenue", Decimal("10000"), Decimal("0")),
    ]
    assert position(contract, D(2026, 2, 28)) == (
        usd("30000"),
        usd("0"),
        usd("30000"),
        "contract_asset",
    )
    assert_journal_balances()


def test_a_contract_that_cannot_be_recognized_is_reported_and_the_others_go_on(
    monthly, contract_line_factory, activate, bill, recognize
):
    # Ten units shipped, then the order is cut to eight: deliveries exceed the whole line.
    broken = contract_line_factory(
        one_time=True,
        one_time_trigger="on_shipment",
        quantity=10,
        product__revenue_policy=RevenuePolicy.POINT_IN_TIME,
    )
    activate(broken.contract)
    shipment_record(line=broken, shipped_on=D(2026, 1, 10), quantity=Decimal(10))
    ContractLine.objects.filter(pk=broken.pk).update(quantity=8)
    bill(D(2026, 2, 1))

    run = recognize(D(2026, 2, 28))

    assert run.finished_at is not None
    assert [error.split(":")[0] for error in run.errors] == [broken.contract.number]
    # The healthy contract is recognized in full: Jan 1,019.18 + Feb 920.54.
    assert position(monthly.contract, D(2026, 2, 28))[0] == usd("1939.72")
