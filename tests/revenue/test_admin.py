"""The revenue back office through the Django test client: pages, actions, exports, permissions.

The figures are worked by hand for one contract: a USD 12,000.00 annual subscription billed on
1 January 2026 and recognized through 31 March 2026, ratably by days over 365:

- January 12,000 x 31/365 = 1,019.178 -> 1,019.18; March the same;
- through March 12,000 x 90/365 = 2,958.904 -> 2,958.90, so February is the 920.54 between
  (its own 920.548 loses the rounding remainder to the 31-day months, as the year's schedule
  hands out its cents by largest remainder);
- position at 31 March 2,958.90 - 12,000.00 = -9,041.10: a contract liability of 9,041.10,
  all of it within the next 12 months (the term ends 31 December).
"""

import csv
import io
from datetime import date

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from contracts.models import BillingModel, Contract, RevenuePolicy
from revenue.models import (
    Allocation,
    JournalEntry,
    LedgerAccount,
    PerformanceObligation,
    ProgressEntry,
    RevenuePeriod,
    RevenueRun,
    RevenueScheduleEntry,
)
from revenue.selectors import JOURNAL_CSV_HEADER, position_of
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db

JAN, FEB, MAR, APR = (date(2026, month, 1) for month in (1, 2, 3, 4))


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def contract_url(contract, **query) -> str:
    url = reverse("admin:revenue_contract", args=[contract.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def streamed(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def annual(contract_line_factory, product_factory, activate, bill, recognize):
    """The hand-worked contract: 12,000.00 a year billed 1 Jan 2026, recognized through March."""
    line = contract_line_factory(
        contract__number="K-ANNUAL",
        interval_months=12,
        unit_price=usd("12000.00"),
        product=product_factory(name="Platform", ssp=usd("12000.00")),
    )
    activate(line.contract)
    bill(date(2026, 1, 1))
    recognize(date(2026, 3, 31))
    return line.contract


@pytest.fixture
def platform_and_onboarding(contract_line_factory, product_factory, activate):
    """Build an activated contract: Platform 12,000 a year and Onboarding 3,000 once.

    Onboarding's SSP (4,000 unless given) is above its price, so relative SSP spreads the
    discount: the pool of 15,000 goes 12,000/16,000 and 4,000/16,000 = 11,250 and 3,750.
    """

    def build(number: str, onboarding_ssp: str = "4000.00"):
        subscription = contract_line_factory(
            contract__number=number,
            interval_months=12,
            unit_price=usd("12000.00"),
            product=product_factory(name="Platform", ssp=usd("12000.00")),
        )
        contract = subscription.contract
        contract_line_factory(
            contract=contract,
            one_time=True,
            unit_price=usd("3000.00"),
            product=product_factory(
                name="Onboarding",
                ssp=usd(onboarding_ssp),
                default_billing_model=BillingModel.ONE_TIME,
                revenue_policy=RevenuePolicy.POINT_IN_TIME,
            ),
        )
        activate(contract)
        return contract

    return build


# The contract revenue page ---------------------------------------------------------------------


def test_contract_page_shows_the_hand_worked_figures(staff_client, annual):
    response = staff_client.get(contract_url(annual, as_of="2026-03-31"))

    assert response.status_code == 200
    context = response.context
    assert context["as_of"] == date(2026, 3, 31)
    assert context["position"].kind == "contract_liability"
    assert context["position_label"] == "Contract liability"
    assert context["position_figures"] == {
        "net": "9,041.10",
        "revenue": "2,958.90",
        "billed": "12,000.00",
    }
    assert context["rpo_figures"] == {
        "total": "9,041.10",
        "within_12_months": "9,041.10",
        "later": "0.00",
    }
    (row,) = context["obligation_rows"]
    assert row.figures == {
        "ssp": "12,000.00",
        "price": "12,000.00",
        "allocated": "12,000.00",
        "recognized": "2,958.90",
        "remaining": "9,041.10",
    }
    assert row.share.share == "1"
    assert row.obligation.get_allocation_method_display() == "Relative SSP"

    # The schedule: January to March recognized, April to December planned.
    schedule = context["schedule"]
    months = [(r.period, r.total.recognized_figure, r.total.planned_figure) for r in schedule.rows]
    assert months[:4] == [
        (JAN, "1,019.18", ""),
        (FEB, "920.54", ""),
        (MAR, "1,019.18", ""),
        (APR, "", "986.30"),
    ]
    assert len(months) == 12
    assert (schedule.grand_total.recognized_figure, schedule.grand_total.planned_figure) == (
        "2,958.90",
        "9,041.10",
    )

    # Billing against revenue: billed in January, earned month by month.
    history = [(m.period, m.figures) for m in context["history"]]
    assert history == [
        (
            JAN,
            {
                "billed": "12,000.00",
                "revenue": "1,019.18",
                "billed_to_date": "12,000.00",
                "revenue_to_date": "1,019.18",
                "position": "10,980.82",
                "side": "liability",
            },
        ),
        (
            FEB,
            {
                "billed": "0.00",
                "revenue": "920.54",
                "billed_to_date": "12,000.00",
                "revenue_to_date": "1,939.72",
                "position": "10,060.28",
                "side": "liability",
            },
        ),
        (
            MAR,
            {
                "billed": "0.00",
                "revenue": "1,019.18",
                "billed_to_date": "12,000.00",
                "revenue_to_date": "2,958.90",
                "position": "9,041.10",
                "side": "liability",
            },
        ),
    ]
    # The chart covers the whole year: posted months and the planned ones after them.
    chart = context["chart"]
    assert len(chart.labels) == 12
    assert {bar.css for bar in chart.bars} == {"billed", "recognized", "planned"}
    assert len(chart.dots) == 3  # the position is known for the posted months only

    html = response.content.decode()
    assert "Revenue of K-ANNUAL" in html
    assert "<svg" in html and "<polyline" in html
    assert 'class="recognized">1,019.18<' in html
    assert 'class="planned">986.30<' in html
    assert "Contract liability" in html and "9,041.10" in html


def test_position_at_an_earlier_date_counts_postings_up_to_it(staff_client, annual):
    context = staff_client.get(contract_url(annual, as_of="2026-01-31")).context

    assert context["position_figures"] == {
        "net": "10,980.82",
        "revenue": "1,019.18",
        "billed": "12,000.00",
    }
    assert context["rpo_figures"]["total"] == "10,980.82"
    assert context["obligation_rows"][0].figures["recognized"] == "1,019.18"


def test_position_is_as_of_today_by_default_and_a_bad_date_says_so(staff_client, annual):
    today = timezone.localdate()
    assert staff_client.get(contract_url(annual)).context["as_of"] == today

    response = staff_client.get(contract_url(annual, as_of="2026-02-30"))

    assert response.status_code == 200
    assert response.context["as_of"] == today
    assert "Enter a valid date." in response.content.decode()


def test_contract_page_shows_how_a_discount_was_allocated(staff_client, platform_and_onboarding):
    contract = platform_and_onboarding("K-ALLOC")

    context = staff_client.get(contract_url(contract, as_of="2026-01-01")).context

    rows = context["obligation_rows"]
    assert [(r.obligation.name, r.figures["ssp"], r.figures["allocated"]) for r in rows] == [
        ("Platform", "12,000.00", "11,250.00"),
        ("Onboarding", "4,000.00", "3,750.00"),
    ]
    assert [(r.share.share, r.share.share_percent) for r in rows] == [
        ("3/4", 75),
        ("1/4", 25),
    ]
    assert context["totals"]["allocated"] == "15,000.00"
    allocation = context["allocation"]
    assert (allocation["method"], allocation["transaction_price"]) == ("Relative SSP", "15,000.00")
    assert [
        (row["method"], row["ssp"], row["price"], row["allocated"]) for row in allocation["shares"]
    ] == [
        ("Relative SSP", "12,000.00", "12,000.00", "11,250.00"),
        ("Relative SSP", "4,000.00", "3,000.00", "3,750.00"),
    ]
    # Nothing billed or recognized: no position, the whole price still to perform.
    assert context["position"].kind == "none"
    assert context["rpo_figures"]["total"] == "15,000.00"


def test_obligation_pages_link_to_the_contract_page(staff_client, annual):
    obligation = annual.obligations.get()
    page = contract_url(annual)

    listing = staff_client.get(admin_url(PerformanceObligation, "changelist"))
    change = staff_client.get(admin_url(PerformanceObligation, "change", obligation.pk))

    assert f'href="{page}"' in listing.content.decode()
    assert f'href="{page}"' in change.content.decode()


def test_contract_change_page_links_to_the_contract_revenue_page(staff_client, annual):
    response = staff_client.get(admin_url(Contract, "change", annual.pk))

    link = f'<a href="{contract_url(annual)}">Allocation, schedule and position</a>'
    assert link in response.content.decode()
    assert staff_client.get(contract_url(annual)).status_code == 200


def revenue_field(response) -> str | None:
    """Return what the contract page shows as "Revenue", or None where it has no such field."""
    fields = (
        field
        for fieldset in response.context["adminform"]
        for line in fieldset
        for field in line
        if field.is_readonly and field.field["name"] == "revenue_page"
    )
    field = next(fields, None)
    return field.contents() if field else None


def test_contract_add_page_has_no_revenue_page_yet(staff_client):
    response = staff_client.get(admin_url(Contract, "add"))

    assert response.status_code == 200
    assert revenue_field(response) == "—"


def test_contract_page_links_to_revenue_only_for_who_may_see_it(clerk, annual):
    client, user = clerk
    user.user_permissions.add(Permission.objects.get(codename="view_contract"))
    change = admin_url(Contract, "change", annual.pk)

    assert revenue_field(client.get(change)) is None
    user.user_permissions.add(Permission.objects.get(codename="view_performanceobligation"))
    assert contract_url(annual) in revenue_field(client.get(change))


def test_contract_page_links_to_its_journal_and_allocations(staff_client, annual, contract_factory):
    contract_factory()  # another contract, with nothing of its own to show
    context = staff_client.get(contract_url(annual)).context

    journal = staff_client.get(context["journal_url"])
    allocations = staff_client.get(context["allocations_url"])

    assert {e.contract for e in journal.context["cl"].result_list} == {annual}
    assert journal.context["cl"].result_count == 4  # the invoice and three recognitions
    assert [a.contract for a in allocations.context["cl"].result_list] == [annual]


def test_unknown_contract_is_not_found(staff_client):
    assert staff_client.get(reverse("admin:revenue_contract", args=[999])).status_code == 404


# Obligation actions ----------------------------------------------------------------------------


def act(client, action: str, obligations, **form):
    return client.post(
        admin_url(PerformanceObligation, "changelist"),
        {"action": action, "_selected_action": [o.pk for o in obligations], **form},
        follow=True,
    )


def test_grouping_merges_obligations_and_replans_the_contract(
    staff_client, platform_and_onboarding
):
    contract = platform_and_onboarding("K-GROUP")
    obligations = list(contract.obligations.order_by("sequence"))

    response = act(
        staff_client,
        "group",
        obligations,
        group_name="Platform incl. onboarding",
        group_pattern=RevenuePolicy.RATABLE,
    )

    (kept,) = contract.obligations.all()
    assert (kept.name, kept.pattern, kept.allocated) == (
        "Platform incl. onboarding",
        RevenuePolicy.RATABLE,
        usd("15000.00"),
    )
    assert messages_of(response) == [
        f"Grouped 2 obligations into {kept}; the contract was re-allocated."
    ]
    # The plan follows the new allocation at once: the year's schedule sums to 15,000.
    planned = sum(e.amount for e in RevenueScheduleEntry.objects.filter(obligation=kept))
    assert planned == usd("15000.00")


def test_grouping_obligations_of_two_contracts_is_refused(staff_client, platform_and_onboarding):
    first = platform_and_onboarding("K-ONE").obligations.first()
    second = platform_and_onboarding("K-TWO").obligations.first()

    response = act(staff_client, "group", [first, second])

    assert messages_of(response) == ["Only obligations of the same contract can be grouped."]
    assert PerformanceObligation.objects.count() == 4


def test_residual_approach_gives_one_obligation_what_the_others_leave(
    staff_client, platform_and_onboarding
):
    contract = platform_and_onboarding("K-RESIDUAL")
    platform, onboarding = contract.obligations.order_by("sequence")

    response = act(staff_client, "use_residual", [onboarding])

    onboarding.refresh_from_db()
    platform.refresh_from_db()
    # 15,000 less Platform's SSP of 12,000 leaves 3,000 to Onboarding.
    assert (onboarding.residual, onboarding.allocated) == (True, usd("3000.00"))
    assert platform.allocated == usd("12000.00")
    assert onboarding.allocation_method == PerformanceObligation.AllocationMethod.RESIDUAL
    assert messages_of(response) == [f"{onboarding} takes the residual: allocated $3,000.00."]


def test_residual_approach_is_refused_with_the_services_reason(
    staff_client, platform_and_onboarding
):
    # Onboarding's SSP (20,000) alone exceeds the 15,000 price: nothing is left for Platform.
    contract = platform_and_onboarding("K-NO-RESIDUAL", onboarding_ssp="20000.00")
    platform, onboarding = contract.obligations.order_by("sequence")

    refused = messages_of(act(staff_client, "use_residual", [platform]))
    two = messages_of(act(staff_client, "use_residual", [platform, onboarding]))

    assert refused == [
        "The residual approach cannot apply: the transaction price 15000.00 USD is less than "
        "the other obligations' SSPs 20000.00 USD."
    ]
    assert two == ["Choose one obligation: the one that takes the residual."]
    assert not contract.obligations.filter(residual=True).exists()


def test_obligations_are_not_added_or_deleted_by_hand(staff_client, annual):
    obligation = annual.obligations.get()

    assert staff_client.get(admin_url(PerformanceObligation, "add")).status_code == 403
    delete = admin_url(PerformanceObligation, "delete", obligation.pk)
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert PerformanceObligation.objects.filter(pk=obligation.pk).exists()


# Period close ----------------------------------------------------------------------------------


CLOSE_URL = "admin:revenue_period_close"


def test_close_asks_for_confirmation_then_closes_every_month_to_it(staff_client, annual):
    url = reverse(CLOSE_URL)
    assert staff_client.get(url).status_code == 200

    review = staff_client.post(url, {"through": "2026-02-15"})

    assert review.status_code == 200
    assert review.context["to_close"] == [JAN, FEB]
    assert "Close 2 months:" in review.content.decode()
    assert not RevenuePeriod.objects.exists()

    done = staff_client.post(url, {"through": "2026-02-15", "confirm": "yes"}, follow=True)

    assert done.redirect_chain[-1][0] == admin_url(RevenuePeriod, "changelist")
    assert set(RevenuePeriod.objects.values_list("start", "status", "closed_by")) == {
        (JAN, "closed", "finance"),
        (FEB, "closed", "finance"),
    }
    assert messages_of(done) == [
        "Closed 2 period(s) through February 2026; revenue was recognized through "
        "28 February 2026 first."
    ]


def test_closing_a_closed_month_is_refused(staff_client, annual, close):
    close(date(2026, 2, 1))
    url = reverse(CLOSE_URL)

    review = staff_client.post(url, {"through": "2026-01-31"})
    confirmed = staff_client.post(url, {"through": "2026-01-31", "confirm": "yes"})

    message = "January 2026 is already closed; the first open period is March 2026."
    for response in (review, confirmed):
        assert response.status_code == 200
        assert response.context["form"].errors == {"through": [message]}
    assert not RevenuePeriod.objects.filter(start=MAR).exists()


def test_periods_are_read_only_and_never_deleted(staff_client, annual, close):
    (february, january) = close(date(2026, 2, 1))[::-1]

    assert staff_client.get(admin_url(RevenuePeriod, "add")).status_code == 403
    change = admin_url(RevenuePeriod, "change", january.pk)
    assert staff_client.get(change).status_code == 200  # viewed
    assert staff_client.post(change, {"status": "open"}).status_code == 403
    delete = admin_url(RevenuePeriod, "delete", february.pk)
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert RevenuePeriod.objects.filter(status="closed").count() == 2


# The journal -----------------------------------------------------------------------------------


def test_export_button_streams_the_filtered_journal(staff_client, annual):
    listing = staff_client.get(admin_url(JournalEntry, "changelist"), {"kind": "recognition"})
    export = reverse("admin:revenue_journal_export") + "?kind=recognition"
    assert f'href="{export}"' in listing.content.decode()

    response = staff_client.get(export)

    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="journal-')
    header, *rows = streamed(response)
    assert header == JOURNAL_CSV_HEADER
    # Three recognitions, each a debit to the contract and a credit to revenue.
    assert [(r[1], r[3], r[4], r[7], r[8]) for r in rows] == [
        ("2026-01-31", "recognition", "1250", "1019.18", "0.00"),
        ("2026-01-31", "recognition", "4000", "0.00", "1019.18"),
        ("2026-02-28", "recognition", "1250", "920.54", "0.00"),
        ("2026-02-28", "recognition", "4000", "0.00", "920.54"),
        ("2026-03-31", "recognition", "1250", "1019.18", "0.00"),
        ("2026-03-31", "recognition", "4000", "0.00", "1019.18"),
    ]
    assert {r[6] for r in rows} == {"K-ANNUAL"}


def test_export_action_streams_the_selected_entries(staff_client, annual):
    invoice_entry = JournalEntry.objects.get(kind=JournalEntry.Kind.INVOICE)

    response = staff_client.post(
        admin_url(JournalEntry, "changelist"),
        {"action": "export_csv", "_selected_action": [invoice_entry.pk]},
    )

    _, *rows = streamed(response)
    assert [(r[3], r[4], r[7], r[8]) for r in rows] == [
        ("invoice", "1200", "12000.00", "0.00"),
        ("invoice", "1250", "0.00", "12000.00"),
    ]


def test_journal_filters_by_accounting_period(staff_client, annual):
    response = staff_client.get(admin_url(JournalEntry, "changelist"), {"period": "2026-02-01"})

    assert [e.description for e in response.context["cl"].result_list] == [
        "Platform: revenue for Feb 2026"
    ]


def test_journal_cannot_be_added_edited_or_deleted(staff_client, annual):
    entry = JournalEntry.objects.get(kind=JournalEntry.Kind.INVOICE)
    change = admin_url(JournalEntry, "change", entry.pk)

    page = staff_client.get(change)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert "12,000.00" in page.content.decode()
    assert staff_client.post(change, {"description": "edited"}).status_code == 403
    assert staff_client.get(admin_url(JournalEntry, "add")).status_code == 403
    delete = admin_url(JournalEntry, "delete", entry.pk)
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    listing = staff_client.get(admin_url(JournalEntry, "changelist"))
    assert "delete_selected" not in listing.content.decode()
    entry.refresh_from_db()
    assert entry.description == "Invoice INV-2026-000001"


@pytest.mark.parametrize("model", [RevenueScheduleEntry, RevenueRun, Allocation])
def test_history_is_read_only(staff_client, annual, model):
    obj = model.objects.first()

    assert staff_client.get(admin_url(model, "change", obj.pk)).status_code == 200
    assert staff_client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
    assert staff_client.get(admin_url(model, "add")).status_code == 403
    delete = admin_url(model, "delete", obj.pk)
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403


def test_schedule_list_filters_by_status_and_pattern(staff_client, annual):
    url = admin_url(RevenueScheduleEntry, "changelist")

    recognized = staff_client.get(url, {"status": "recognized", "q": "K-ANNUAL"})
    milestones = staff_client.get(url, {"obligation__pattern": RevenuePolicy.MILESTONE})

    assert recognized.context["cl"].result_count == 3
    assert milestones.context["cl"].result_count == 0


# The trial balance -----------------------------------------------------------------------------


TRIAL_BALANCE = "admin:revenue_trial_balance"


def balance_rows(response) -> list[tuple]:
    return [
        (line.account.code, line.currency, *line.figures.values())
        for block in response.context["currencies"]
        for line in block.lines
    ]


def test_trial_balance_through_a_date_balances(staff_client, annual):
    response = staff_client.get(reverse(TRIAL_BALANCE), {"through": "2026-03-31"})

    assert response.status_code == 200
    assert balance_rows(response) == [
        ("1200", "USD", "12,000.00", "0.00", "12,000.00", "Dr"),
        ("1250", "USD", "2,958.90", "12,000.00", "9,041.10", "Cr"),
        ("4000", "USD", "0.00", "2,958.90", "2,958.90", "Cr"),
    ]
    (usd_block,) = response.context["currencies"]
    assert usd_block.figures == {"debit": "14,958.90", "credit": "14,958.90"}
    assert usd_block.balanced
    assert "✓ balanced" in response.content.decode()
    assert response.context["subtitle"] == "Cumulative through 31 March 2026"


def test_trial_balance_of_one_month(staff_client, annual):
    response = staff_client.get(reverse(TRIAL_BALANCE), {"period": "2026-02"})

    assert balance_rows(response) == [
        ("1250", "USD", "920.54", "0.00", "920.54", "Dr"),
        ("4000", "USD", "0.00", "920.54", "920.54", "Cr"),
    ]
    assert response.context["subtitle"] == "February 2026"


def test_trial_balance_downloads_as_csv(staff_client, annual):
    page = staff_client.get(reverse(TRIAL_BALANCE), {"through": "2026-03-31"})
    assert page.context["csv_url"] == "?through=2026-03-31&download=csv"

    response = staff_client.get(reverse(TRIAL_BALANCE) + page.context["csv_url"])

    assert response["Content-Disposition"] == (
        'attachment; filename="trial-balance-through-2026-03-31.csv"'
    )
    assert streamed(response) == [
        ["account", "account_name", "currency", "debit", "credit", "balance"],
        ["1200", "Accounts receivable", "USD", "12000.00", "0.00", "12000.00"],
        ["1250", "Contract balance (asset / liability)", "USD", "2958.90", "12000.00", "-9041.10"],
        ["4000", "Revenue", "USD", "0.00", "2958.90", "-2958.90"],
    ]


def test_trial_balance_refuses_a_month_and_a_date_together(staff_client, annual):
    response = staff_client.get(
        reverse(TRIAL_BALANCE), {"period": "2026-02", "through": "2026-03-31"}
    )

    assert "Choose one month or a date to run through, not both." in response.content.decode()


# Ledger accounts and progress ------------------------------------------------------------------


def test_ledger_account_code_and_name_are_editable_but_not_its_role(staff_client):
    account = LedgerAccount.objects.get(role=LedgerAccount.Role.REVENUE)

    response = staff_client.post(
        admin_url(LedgerAccount, "change", account.pk),
        {"code": "4100", "name": "Subscription revenue", "role": "tax"},
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.code, account.name, account.role) == ("4100", "Subscription revenue", "revenue")
    assert staff_client.get(admin_url(LedgerAccount, "add")).status_code == 403
    delete = admin_url(LedgerAccount, "delete", account.pk)
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403


@pytest.fixture
def implementation(contract_line_factory, product_factory, activate):
    """A 10,000.00 implementation project recognized by percent complete (input method)."""
    line = contract_line_factory(
        contract__number="K-PROJECT",
        one_time=True,
        unit_price=usd("10000.00"),
        product=product_factory(
            name="Implementation",
            ssp=usd("10000.00"),
            default_billing_model=BillingModel.ONE_TIME,
            revenue_policy=RevenuePolicy.PERCENT_COMPLETE,
        ),
    )
    activate(line.contract)
    return line.contract.obligations.get()


def test_recording_progress_recognizes_the_contract(staff_client, implementation):
    response = staff_client.post(
        admin_url(ProgressEntry, "add"),
        {
            "obligation": implementation.pk,
            "measured_on": "2026-02-15",
            "incurred": "400",
            "estimated_total": "1000",
            "note": "Phase 1 done",
        },
    )

    assert response.status_code == 302
    entry = ProgressEntry.objects.get()
    assert entry.recorded_by == "finance"
    # 400 / 1,000 of the 10,000.00 allocated: 4,000.00, earned on the measurement's day.
    position = position_of(contract=implementation.contract, as_of=date(2026, 2, 15))
    assert position.revenue == usd("4000.00")
    listing = staff_client.get(admin_url(ProgressEntry, "changelist"))
    assert "40.00 %" in listing.content.decode()
    # A measurement is history: viewed, not edited.
    change = admin_url(ProgressEntry, "change", entry.pk)
    assert staff_client.post(change, {"incurred": "500"}).status_code == 403


def test_progress_beyond_the_estimate_is_refused(staff_client, implementation):
    response = staff_client.post(
        admin_url(ProgressEntry, "add"),
        {
            "obligation": implementation.pk,
            "measured_on": "2026-02-15",
            "incurred": "1200",
            "estimated_total": "1000",
        },
    )

    assert response.status_code == 200
    assert "raise the estimate" in response.content.decode()
    assert not ProgressEntry.objects.exists()


def test_progress_is_recorded_only_for_percent_complete_obligations(
    staff_client, implementation, annual
):
    form = staff_client.get(admin_url(ProgressEntry, "add")).context["adminform"].form

    assert list(form.fields["obligation"].queryset) == [implementation]


# Permissions -----------------------------------------------------------------------------------


@pytest.fixture
def clerk(client, django_user_model):
    """A staff user with no permissions at all, logged in."""
    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(user)
    return client, user


def finance_pages(contract) -> list[str]:
    return [
        reverse("admin:revenue_contract", args=[contract.pk]),
        reverse(TRIAL_BALANCE),
        reverse("admin:revenue_journal_export"),
        reverse(CLOSE_URL),
    ]


def test_staff_without_permissions_is_refused(clerk, annual):
    client, _ = clerk
    for url in finance_pages(annual):
        assert client.get(url).status_code == 403, url
    confirm = {"through": "2026-01-31", "confirm": "yes"}
    assert client.post(reverse(CLOSE_URL), confirm).status_code == 403
    assert not RevenuePeriod.objects.exists()


def test_anonymous_users_are_sent_to_log_in(client, annual):
    for url in finance_pages(annual):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login"))


def test_view_permissions_open_the_pages_but_not_the_close(clerk, annual):
    client, user = clerk
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_performanceobligation", "view_journalentry", "view_revenueperiod"]
        )
    )

    assert client.get(reverse("admin:revenue_contract", args=[annual.pk])).status_code == 200
    assert client.get(reverse(TRIAL_BALANCE)).status_code == 200
    assert client.get(reverse(CLOSE_URL)).status_code == 403
    listing = client.get(admin_url(RevenuePeriod, "changelist"))
    assert reverse(CLOSE_URL) not in listing.content.decode()
