"""Milestone schedules by policy (templates) or passed in, always summing exactly to the value."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from djmoney.money import Money
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from billing.milestones import milestone_achieve
from contracts.milestones import (
    MilestonePlan,
    milestone_schedule_apply_template,
    milestone_schedule_set,
    milestones_respread,
)
from contracts.models import Milestone, MilestoneTemplate, MilestoneTemplateStep
from contracts.services import contract_terms_announce
from tests.contracts.factories import ContractFactory, ContractLineFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def project_line(value: str, currency: str = "USD", **kwargs):
    customer = CustomerFactory(currency=currency)
    contract = ContractFactory(customer=customer, **kwargs)
    return ContractLineFactory(contract=contract, milestone=True, unit_price=Money(value, currency))


def amounts(line) -> list[Money]:
    return [m.amount for m in line.milestones.order_by("sequence")]


def implementation(line):
    """Lay the shipped 30/40/30 template over ``line``."""
    return milestone_schedule_apply_template(
        line=line, template=MilestoneTemplate.objects.get(name="Implementation 30/40/30")
    )


def design_achieved(value: str, activate):
    """A 30/40/30 project of ``value`` USD, active, whose first milestone is achieved."""
    line = project_line(value)
    implementation(line)
    activate(line.contract)
    milestone_achieve(
        milestone=line.milestones.first(), achieved_on=date(2026, 2, 1), achieved_by="pm"
    )
    return line


def template(name: str, percents: list[str]) -> MilestoneTemplate:
    policy = MilestoneTemplate.objects.create(name=name)
    for n, percent in enumerate(percents, start=1):
        MilestoneTemplateStep.objects.create(
            template=policy,
            sequence=n,
            name=f"Step {n}",
            percent=Decimal(percent),
            days_after_start=30 * n,
        )
    return policy


class TestTemplates:
    def test_the_standard_policies_ship_with_the_product(self):
        construction = MilestoneTemplate.objects.get(name="Construction 10/30/30/20/10")
        assert [s.percent for s in construction.steps.all()] == [10, 30, 30, 20, 10]
        assert MilestoneTemplate.objects.filter(name="Implementation 30/40/30").exists()

    def test_a_template_spreads_the_value_with_the_last_absorbing_the_remainder(self):
        line = project_line("100000.01")
        policy = MilestoneTemplate.objects.get(name="Implementation 30/40/30")

        created = milestone_schedule_apply_template(line=line, template=policy)

        # 30% of 100,000.01 = 30,000.003 -> 30,000.00; 40% -> 40,000.00; the last takes the rest.
        assert amounts(line) == [
            Money("30000.00", "USD"),
            Money("40000.00", "USD"),
            Money("30000.01", "USD"),
        ]
        assert [m.planned_date for m in created] == [
            line.service_start,
            line.service_start + timedelta(days=90),
            line.service_start + timedelta(days=180),
        ]
        assert [m.sequence for m in created] == [1, 2, 3]
        assert all(m.status == Milestone.Status.PLANNED for m in created)

    def test_yen_and_three_decimal_currencies_round_to_their_minor_unit(self):
        thirds = template("Thirds", ["33.3333", "33.3333", "33.3334"])
        yen = project_line("1000000", "JPY")
        milestone_schedule_apply_template(line=yen, template=thirds)
        # 33.3333% of 1,000,000 = 333,333 yen (no decimals); the last takes 333,334.
        assert amounts(yen) == [Money(333_333, "JPY"), Money(333_333, "JPY"), Money(333_334, "JPY")]

        construction = MilestoneTemplate.objects.get(name="Construction 10/30/30/20/10")
        dinar = project_line("1234.567", "KWD")
        milestone_schedule_apply_template(line=dinar, template=construction)
        # 10% = 123.4567 -> 123.457; 30% = 370.3701 -> 370.370; 20% = 246.9134 -> 246.913.
        assert amounts(dinar) == [
            Money(a, "KWD") for a in ["123.457", "370.370", "370.370", "246.913", "123.457"]
        ]
        assert sum(amounts(dinar), Money(0, "KWD")) == Money("1234.567", "KWD")

    def test_a_template_replaces_a_planned_schedule_but_not_an_achieved_one(self, activate):
        line = project_line("900")
        policy = MilestoneTemplate.objects.get(name="Implementation 30/40/30")
        milestone_schedule_apply_template(line=line, template=policy)
        milestone_schedule_apply_template(line=line, template=policy)
        assert line.milestones.count() == 3

        activate(line.contract)
        milestone_achieve(
            milestone=line.milestones.first(), achieved_on=date(2026, 2, 1), achieved_by="pm"
        )
        with pytest.raises(ValidationError, match="has achieved milestones"):
            milestone_schedule_apply_template(line=line, template=policy)

    def test_a_template_that_is_not_a_whole_or_a_line_that_is_not_a_project_is_refused(self):
        with pytest.raises(ValidationError, match="sums to 90%, not 100%"):
            milestone_schedule_apply_template(
                line=project_line("100"), template=template("Short", ["50", "40"])
            )
        subscription = ContractLineFactory()
        policy = MilestoneTemplate.objects.get(name="Implementation 30/40/30")
        with pytest.raises(ValidationError, match="Only milestone lines"):
            milestone_schedule_apply_template(line=subscription, template=policy)


class TestPassedIn:
    def plan(self, name, amount=None, percent=None, currency="USD"):
        return MilestonePlan(
            name=name,
            planned_date=date(2026, 6, 1),
            amount=Money(amount, currency) if amount is not None else None,
            percent=Decimal(percent) if percent is not None else None,
        )

    def test_explicit_amounts_that_sum_to_the_value_are_kept_as_given(self):
        line = project_line("50000")
        milestone_schedule_set(
            line=line, plans=[self.plan("Kick-off", "5000"), self.plan("Delivery", "45000")]
        )
        assert amounts(line) == [Money(5000, "USD"), Money(45000, "USD")]

    def test_a_schedule_that_does_not_sum_is_refused_with_both_figures_and_changes_nothing(
        self,
    ):
        line = project_line("50000")
        milestone_schedule_set(line=line, plans=[self.plan("All", "50000")])
        with pytest.raises(ValidationError) as refused:
            milestone_schedule_set(
                line=line, plans=[self.plan("A", "20000"), self.plan("B", "25000.50")]
            )
        assert refused.value.message_dict["milestones"] == [
            "The milestones sum to 45,000.50 USD but the line's value is 50,000.00 USD; they "
            "must sum exactly to it."
        ]
        assert [m.name for m in line.milestones.all()] == ["All"]

    def test_each_plan_needs_an_amount_or_a_percent_in_the_contract_currency(self):
        line = project_line("100")
        with pytest.raises(ValidationError) as refused:
            milestone_schedule_set(
                line=line,
                plans=[
                    self.plan("Both", "50", "50"),
                    self.plan("Neither"),
                    self.plan("Euros", "100", currency="EUR"),
                ],
            )
        errors = refused.value.message_dict
        assert "give an amount or a percent" in errors["milestones[0]"][0]
        assert "give an amount or a percent" in errors["milestones[1]"][0]
        assert errors["milestones[2]"] == [
            "Milestone 3 ('Euros') is in EUR; this contract is in USD."
        ]
        with pytest.raises(ValidationError, match=r"99999\.995 has more decimals than USD"):
            milestone_schedule_set(line=line, plans=[self.plan("Fraction", "99999.995")])

    def test_after_an_achievement_the_rest_is_replanned_around_it(self, activate):
        line = design_achieved("100000.01", activate)
        # 30% achieved + 40% + 30% is a whole: the last absorbs the cent of rounding.
        milestone_schedule_set(
            line=line, plans=[self.plan("Build", percent="40"), self.plan("Launch", percent="30")]
        )
        assert amounts(line) == [
            Money("30000.00", "USD"),
            Money("40000.00", "USD"),
            Money("30000.01", "USD"),
        ]
        assert [m.sequence for m in line.milestones.all()] == [1, 2, 3]
        with pytest.raises(ValidationError, match=r"\(of which 30,000.00 USD already achieved\)"):
            milestone_schedule_set(line=line, plans=[self.plan("Everything", "100000.01")])


class TestRespread:
    def test_a_new_value_respreads_planned_percent_milestones_only(self, activate):
        line = design_achieved("100000", activate)
        line.unit_price = Money(120_000, "USD")
        line.full_clean()
        line.save()

        assert milestones_respread(line=line) == 2
        # The achieved 30,000 stays; 40% of 120,000 = 48,000; the last takes the rest.
        assert amounts(line) == [Money(30_000, "USD"), Money(48_000, "USD"), Money(42_000, "USD")]
        assert milestones_respread(line=line) == 0

    def test_the_value_cannot_drop_below_what_is_achieved(self, activate):
        line = design_achieved("100000", activate)
        line.unit_price = Money(20_000, "USD")
        with pytest.raises(ValidationError, match=r"total 30,000\.00 USD; the line's value cannot"):
            line.full_clean()

    def test_a_new_value_is_respread_when_the_terms_are_announced(
        self, django_capture_on_commit_callbacks
    ):
        line = project_line("1000")
        implementation(line)
        line.unit_price = Money(2000, "USD")
        line.save()
        with django_capture_on_commit_callbacks(execute=True):
            contract_terms_announce(contract=line.contract)
        assert amounts(line) == [Money(600, "USD"), Money(800, "USD"), Money(600, "USD")]


class _Rollback(Exception):
    """Undo one hypothesis example's rows, so examples do not see each other's."""


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    max_examples=40,
    deadline=None,
)
@given(
    value=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2),
    weights=st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=7),
    currency=st.sampled_from(["USD", "JPY", "KWD"]),
)
# Three shares of 1.10555 round up to 1.11: the last would be left -0.01 of 3.32.
@example(value=Decimal("3.32"), weights=[332, 332, 332, 1], currency="USD")
def test_percent_schedules_always_make_the_whole_value(value, weights, currency):
    """Whatever the value, the currency and the split, a schedule sums exactly to the value."""
    # Percents with four decimals that sum to exactly 100: the last takes the remainder.
    percents = [
        (Decimal(100) * w / sum(weights)).quantize(Decimal("0.0001"), "ROUND_DOWN")
        for w in weights[:-1]
    ]
    percents.append(Decimal(100) - sum(percents, Decimal(0)))
    try:
        with transaction.atomic():
            line = project_line(str(value), currency)
            milestone_schedule_set(
                line=line,
                plans=[
                    MilestonePlan(name=f"M{n}", planned_date=date(2026, 6, 1), percent=p)
                    for n, p in enumerate(percents)
                ],
            )
            scheduled = amounts(line)
            assert sum(scheduled, Money(0, currency)) == line.extended_amount
            assert all(amount.amount >= 0 for amount in scheduled)
            assert len(scheduled) == len(percents)
            raise _Rollback
    except _Rollback:
        pass
