"""Renewing a fixed-term contract: prices, terms, billing and revenue of the new term, the
daily task run twice, and the ``contract.renewed`` webhook event."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from djmoney.money import Money

from billing.models import Invoice
from contracts.models import Contract, ContractLine, Renewal, RenewalTerms
from contracts.renewals import annual_value, contract_renew, renewal_decide
from contracts.tasks import renewals_run_task
from revenue.models import RevenueScheduleEntry
from revenue.runs import revenue_recognize
from tests.billing.conftest import activate, bill  # noqa: F401  (billing's fixtures)
from tests.contracts.factories import (
    ContractFactory,
    ContractLineFactory,
    CustomerFactory,
    ProductFactory,
)
from webhooks.models import EventType, WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db

END = date(2026, 12, 31)


def annual_contract(
    *, currency: str = "USD", price: str = "1200.00", uplift: str = "3.5", **terms
) -> Contract:
    """An active contract for 2026 with one annual in-advance subscription line at ``price``."""
    customer = CustomerFactory(currency=currency)
    contract = ContractFactory(customer=customer, status=Contract.Status.ACTIVE)
    ContractLineFactory(
        contract=contract,
        product=ProductFactory(ssp=Money(price, currency)),
        unit_price=Money(price, currency),
        interval_months=12,
    )
    RenewalTerms.objects.create(
        contract=contract, uplift_percent=Decimal(uplift), **{"auto_renew": True, **terms}
    )
    return contract


@pytest.fixture
def renew(django_capture_on_commit_callbacks):
    """Renew as the admin does, letting billing and revenue follow after the commit."""

    def renew(contract: Contract, **options) -> tuple[Renewal, bool]:
        options.setdefault("by", "finance")
        with django_capture_on_commit_callbacks(execute=True):
            result = contract_renew(contract=contract, **options)
        contract.refresh_from_db()
        return result

    return renew


def test_renewal_continues_the_line_for_a_year_at_the_uplifted_price(renew):
    contract = annual_contract()
    [old] = contract.lines.all()

    renewal, made = renew(contract)

    # 1,200.00 x 1.035 = 1,242.00; the new term is 1 Jan 2027 - 31 Dec 2027.
    assert made
    assert contract.end_date == date(2027, 12, 31)
    new = ContractLine.objects.get(pk=renewal.prices[0]["new_line"])
    assert (new.service_start, new.service_end) == (date(2027, 1, 1), date(2027, 12, 31))
    assert new.unit_price == Money("1242.00", "USD")
    assert (new.product_id, new.interval_months, new.quantity) == (old.product_id, 12, 1)
    old.refresh_from_db()
    assert (old.service_end, old.unit_price) == (END, Money("1200.00", "USD"))
    assert (renewal.from_end, renewal.to_end, renewal.uplift_percent) == (
        END,
        date(2027, 12, 31),
        Decimal("3.5"),
    )
    assert renewal.prices[0]["from"] == "1200.00" and renewal.prices[0]["to"] == "1242.00"
    assert renewal.renewed_by == "finance" and not renewal.automatic


def test_yen_prices_round_half_up_to_whole_yen(renew):
    # 1,234 JPY x 1.025 = 1,264.85 -> 1,265 JPY (yen has no minor unit).
    contract = annual_contract(currency="JPY", price="1234", uplift="2.5")

    renewal, _ = renew(contract)

    new = ContractLine.objects.get(pk=renewal.prices[0]["new_line"])
    assert new.unit_price == Money(1265, "JPY")
    assert renewal.prices[0]["to"] == "1265"


def test_new_prices_entered_line_by_line_replace_the_uplift(renew):
    contract = annual_contract()
    [line] = contract.lines.all()

    renewal, _ = renew(contract, new_unit_prices={line.pk: Decimal("1100.005")})

    # Rounded half-up to the cent: 1,100.005 -> 1,100.01.
    assert ContractLine.objects.get(pk=renewal.prices[0]["new_line"]).unit_price == Money(
        "1100.01", "USD"
    )
    assert renewal.uplift_percent is None


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"uplift_percent": Decimal("-1")}, "uplift_percent"),
        ({"uplift_percent": Decimal("100.01")}, "uplift_percent"),
        ({"uplift_percent": Decimal(1), "new_unit_prices": {}}, "uplift_percent"),
        ({"new_unit_prices": {}}, "new_unit_prices[{line}]"),
        ({"new_unit_prices": {"line": Decimal("-5")}}, "new_unit_prices[{line}]"),
        ({"new_unit_prices": {"line": Money(5, "EUR")}}, "new_unit_prices[{line}]"),
        ({"new_unit_prices": {999_999: Decimal(5)}}, "new_unit_prices"),
    ],
)
def test_bad_renewal_input_names_the_field_and_changes_nothing(renew, options, field):
    contract = annual_contract()
    [line] = contract.lines.all()
    if "new_unit_prices" in options:
        options["new_unit_prices"] = {
            line.pk if key == "line" else key: value
            for key, value in options["new_unit_prices"].items()
        }

    with pytest.raises(ValidationError) as refused:
        renew(contract, **options)

    assert field.format(line=line.pk) in refused.value.message_dict
    contract.refresh_from_db()
    assert contract.end_date == END
    assert contract.lines.count() == 1 and not Renewal.objects.exists()


def test_evergreen_contracts_do_not_renew(renew):
    contract = ContractFactory(evergreen=True, end_date=None, status=Contract.Status.ACTIVE)
    ContractLineFactory(contract=contract, service_end=None)

    with pytest.raises(ValidationError, match="evergreen: it runs until terminated"):
        renew(contract)
    with pytest.raises(ValidationError, match="evergreen"):
        renewal_decide(contract=contract, decision="renewing", by="finance")


def test_a_contract_marked_not_renewing_is_refused_until_the_decision_changes(renew):
    contract = annual_contract()
    renewal_decide(
        contract=contract, decision="not_renewing", reason="Customer moves to a rival", by="ann"
    )

    with pytest.raises(ValidationError, match="not renewing \\(Customer moves to a rival\\)"):
        renew(contract)

    terms = renewal_decide(contract=contract, decision="renewing", by="ann")
    renew(contract)
    terms.refresh_from_db()
    # The decision was about the term just renewed; the new term's is open again.
    assert (terms.decision, terms.decision_reason, terms.decided_at) == ("pending", "", None)


def test_not_renewing_needs_a_reason():
    contract = annual_contract()
    with pytest.raises(ValidationError) as refused:
        renewal_decide(contract=contract, decision="not_renewing", reason="  ", by="ann")
    assert "decision_reason" in refused.value.message_dict
    assert RenewalTerms.objects.get(contract=contract).decision == "pending"


def test_renewing_the_same_term_twice_renews_once(renew):
    contract = annual_contract()
    stale = Contract.objects.get(pk=contract.pk)  # a second click, read before the first

    first, made_first = renew(contract)
    second, made_second = renew(stale)

    assert (made_first, made_second) == (True, False)
    assert first == second
    assert Renewal.objects.count() == 1 and contract.lines.count() == 2
    assert Contract.objects.get(pk=contract.pk).end_date == date(2027, 12, 31)


def test_auto_renew_with_uplift_run_twice_renews_once(django_capture_on_commit_callbacks):
    """The issue's example: the daily task renews an auto-renew contract at its uplift, once."""
    contract = annual_contract(uplift="3.5")

    with django_capture_on_commit_callbacks(execute=True):
        renewals_run_task(END.isoformat())
        renewals_run_task(END.isoformat())

    [renewal] = Renewal.objects.all()
    assert renewal.automatic and renewal.renewed_by == "renewals task"
    contract.refresh_from_db()
    assert contract.end_date == date(2027, 12, 31)
    prices = sorted(line.unit_price.amount for line in contract.lines.all())
    assert prices == [Decimal("1200.00"), Decimal("1242.00")]  # 1,200.00 x 1.035


def test_the_task_renews_only_what_is_due_and_wanted(django_capture_on_commit_callbacks):
    due = annual_contract()
    not_yet = annual_contract()
    Contract.objects.filter(pk=not_yet.pk).update(end_date=date(2027, 1, 31))
    ContractLine.objects.filter(contract=not_yet).update(service_end=date(2027, 1, 31))
    annual_contract(auto_renew=False)  # renewed by hand only
    declined = annual_contract()
    renewal_decide(contract=declined, decision="not_renewing", reason="Churned", by="ann")
    draft = annual_contract()
    Contract.objects.filter(pk=draft.pk).update(status=Contract.Status.DRAFT)

    with django_capture_on_commit_callbacks(execute=True):
        assert renewals_run_task(END.isoformat()) == 1

    assert list(Renewal.objects.values_list("contract", flat=True)) == [due.pk]


def test_a_contract_left_past_several_terms_catches_up_term_by_term(
    django_capture_on_commit_callbacks,
):
    contract = annual_contract(uplift="10")

    with django_capture_on_commit_callbacks(execute=True):
        renewals_run_task("2028-03-01")

    # Two terms: to 2027-12-31 at 1,320.00 (1,200 x 1.1), then to 2028-12-31 at 1,452.00.
    ends = list(Renewal.objects.order_by("from_end").values_list("from_end", "to_end"))
    assert ends == [(END, date(2027, 12, 31)), (date(2027, 12, 31), date(2028, 12, 31))]
    prices = sorted(line.unit_price.amount for line in contract.lines.all())
    assert prices == [Decimal("1200.00"), Decimal("1320.00"), Decimal("1452.00")]


def test_the_command_renews_and_reports(capsys):
    annual_contract()
    call_command("renew_contracts", "--as-of", "2026-12-31")
    call_command("renew_contracts", "--as-of", "2026-12-31")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("As of 2026-12-31: 1 term(s) renewed")
    assert out[1].startswith("As of 2026-12-31: 0 term(s) renewed")
    assert Renewal.objects.count() == 1


def test_the_renewed_term_bills_at_the_new_price_and_issued_invoices_stay(
    renew,
    activate,  # noqa: F811 (the imported fixture)
    bill,  # noqa: F811
):
    contract = annual_contract()
    Contract.objects.filter(pk=contract.pk).update(status=Contract.Status.DRAFT)
    contract.refresh_from_db()
    activate(contract)
    bill(date(2026, 1, 1))
    [first] = Invoice.objects.all()
    before = (first.total, list(first.lines.values_list("amount", "period_start", "period_end")))

    renew(contract)
    bill(date(2027, 1, 1))

    first.refresh_from_db()
    assert (first.total, list(first.lines.values_list("amount", "period_start", "period_end"))) == (
        before
    )
    second = Invoice.objects.exclude(pk=first.pk).get()
    [line] = second.lines.all()
    # The 2027 year in advance at 1,242.00 (no tax on the factory customer).
    assert (line.amount, line.period_start, line.period_end) == (
        Money("1242.00", "USD"),
        date(2027, 1, 1),
        date(2027, 12, 31),
    )
    assert second.total == Money("1242.00", "USD")


@pytest.mark.parametrize("recognized_before_renewal", [date(2026, 10, 31), date(2026, 12, 31)])
def test_revenue_recognizes_each_term_at_its_own_price(
    recognized_before_renewal,
    renew,
    activate,  # noqa: F811 (the imported fixture)
    bill,  # noqa: F811
):
    """A renewal is a prospective modification: the uplift belongs to the new term only.

    Re-allocating both terms by relative SSP would move part of the 3.5% uplift into the first
    term and post it as a catch-up; ASC 606-10-25-13(a) keeps each term at its own price.
    """
    contract = annual_contract()
    Contract.objects.filter(pk=contract.pk).update(status=Contract.Status.DRAFT)
    contract.refresh_from_db()
    activate(contract)
    bill(date(2026, 1, 1))
    revenue_recognize(as_of=recognized_before_renewal, triggered_by="tests")
    renew(contract)
    bill(date(2027, 1, 1))

    revenue_recognize(as_of=date(2027, 12, 31), triggered_by="tests")

    recognized = RevenueScheduleEntry.objects.filter(
        contract=contract, status=RevenueScheduleEntry.Status.RECOGNIZED
    )
    by_year = {2026: Money(0, "USD"), 2027: Money(0, "USD")}
    for entry in recognized:
        by_year[entry.period.year] += entry.amount
    # Each term earns its own price: 1,200.00 in 2026, 1,200.00 x 1.035 = 1,242.00 in 2027.
    assert by_year == {2026: Money("1200.00", "USD"), 2027: Money("1242.00", "USD")}
    assert not recognized.filter(catch_up=True).exists()


def test_the_webhook_event_is_recorded_once_with_the_renewal(renew):
    WebhookEndpoint.objects.create(
        url="https://example.com/hooks", events=[EventType.CONTRACT_RENEWED]
    )
    contract = annual_contract()
    stale = Contract.objects.get(pk=contract.pk)

    renewal, _ = renew(contract)
    renew(stale)

    [event] = WebhookEvent.objects.all()
    assert event.type == "contract.renewed"
    assert event.data["contract_number"] == contract.number
    assert (event.data["from_end"], event.data["to_end"]) == ("2026-12-31", "2027-12-31")
    assert event.data["uplift_percent"] == "3.5"
    assert event.data["lines"] == [
        {
            "line": renewal.prices[0]["line"],
            "new_line": renewal.prices[0]["new_line"],
            "from": "1200.00",
            "to": "1242.00",
        }
    ]


def test_no_event_is_recorded_when_the_renewal_is_refused(renew):
    WebhookEndpoint.objects.create(
        url="https://example.com/hooks", events=[EventType.CONTRACT_RENEWED]
    )
    contract = annual_contract()
    with pytest.raises(ValidationError):
        renew(contract, uplift_percent=Decimal(101))
    assert not WebhookEvent.objects.exists()


def test_annual_value_counts_the_lines_that_run_to_the_end():
    contract = annual_contract()
    # Plus 3 monthly seats at 100.00 (3,600.00 a year) and a line that ends earlier.
    ContractLineFactory(contract=contract, quantity=3)
    ContractLineFactory(contract=contract, service_end=date(2026, 6, 30))
    assert annual_value(contract) == Money("4800.00", "USD")


def test_usage_lines_run_on_to_the_new_end_and_their_history_says_so(renew):
    contract = annual_contract()
    usage = ContractLineFactory(contract=contract, usage=True, subscription_key="meter-7")

    renew(contract)

    usage.refresh_from_db()
    assert (usage.service_end, usage.subscription_key) == (date(2027, 12, 31), "meter-7")
    assert usage.history.latest().service_end == date(2027, 12, 31)


def test_a_contract_with_nothing_recurring_is_not_renewed(renew):
    contract = ContractFactory(status=Contract.Status.ACTIVE)
    ContractLineFactory(contract=contract, one_time=True)

    with pytest.raises(ValidationError, match="no subscription or usage line"):
        renew(contract)
    assert not Renewal.objects.exists()
