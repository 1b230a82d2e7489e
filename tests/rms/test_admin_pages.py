"""Every page of the back office renders for a finance admin, with real records behind it."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.test import TestCase, override_settings
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from djmoney.money import Money

from billing.credit_notes import credit_note_create, credit_note_issue
from billing.milestones import milestone_achieve
from billing.models import Invoice, Payment, RatePlan, RateTier, SellerProfile
from billing.payments import payment_record
from billing.runs import bill_run_start
from billing.shipments import shipment_record
from billing.usage import usage_records_ingest
from contracts.models import (
    ChangeOrder,
    Milestone,
    MilestoneTemplate,
    Modification,
    ModificationChange,
    RevenuePolicy,
)
from contracts.modifications import modification_apply
from contracts.services import contract_activate
from imports.engine import Mode
from imports.jobs import import_job_start
from integrations.models import ApiToken
from revenue.domain.variable_consideration import Scenario
from revenue.models import ProgressEntry
from revenue.runs import period_close
from revenue.variable_consideration import (
    variable_consideration_assess,
    variable_consideration_create,
)
from rms.celery import app as celery_app
from tests.admin_urls import admin_url
from tests.contracts.factories import BillingContactFactory, ContractLineFactory
from webhooks.models import EventType, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def book(django_db_setup, django_db_blocker, tmp_path_factory):
    """One row of every model the admin shows: a billed contract with lines of every model, a
    shipment, a milestone invoiced on achievement, a bill run with its invoice, a change order, a
    milestone template, and the third-party rows (groups, tokens, beat).

    Built once for the module inside an outer transaction that is rolled back at the end, so
    nothing leaks into other modules; each test runs in a savepoint nested inside it. The
    function-scoped autouse fixtures of tests/conftest.py do not apply here, so the book sets up
    eager Celery, a private media root and an empty cache itself. Returns the finance admin.
    """
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    media = override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("book") / "media")
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
    try:
        conf.task_always_eager, conf.task_eager_propagates = True, True
        media.enable()
        with django_db_blocker.unblock():
            cache.clear()
            user = _book_build()
        yield user
    finally:
        media.disable()
        conf.task_always_eager, conf.task_eager_propagates = saved
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            cache.clear()


def _book_build():
    user = get_user_model().objects.create_superuser("finance", "finance@example.com", "pw")
    token = ApiToken(name="ERP", user=user)
    token.key_issue()
    token.save()
    Group.objects.create(name="Billing clerks")
    every_minute = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.create(name="Nightly bill run", task="noop", interval=every_minute)
    ClockedSchedule.objects.create(clocked_time=datetime(2026, 12, 1, tzinfo=UTC))
    CrontabSchedule.objects.create(minute="0", hour="2")
    SolarSchedule.objects.create(event="sunrise", latitude=52.52, longitude=13.40)
    # Subscribed to everything, at a port nothing answers: events, failed deliveries, attempts.
    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", events=list(EventType.values))
    subscription = ContractLineFactory()
    contract = subscription.contract
    shipped = ContractLineFactory(
        contract=contract, one_time=True, one_time_trigger="on_shipment", quantity=Decimal(5)
    )
    project = ContractLineFactory(contract=contract, milestone=True)
    usage = ContractLineFactory(contract=contract, usage=True)
    plan = RatePlan.objects.create(line=usage, kind=RatePlan.Kind.GRADUATED)
    RateTier.objects.create(plan=plan, sequence=1, unit_price=Decimal("0.01"))
    built = ContractLineFactory(
        contract=contract, one_time=True, product__revenue_policy=RevenuePolicy.PERCENT_COMPLETE
    )
    BillingContactFactory(customer=contract.customer)
    design = Milestone.objects.create(
        line=project,
        sequence=1,
        name="Design",
        planned_date=date(2026, 1, 20),
        amount=Money(100, "USD"),
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        contract_activate(contract=contract)
    shipment_record(line=shipped, shipped_on=date(2026, 1, 10), quantity=Decimal(2))
    usage_records_ingest(
        records=[
            {
                "line": usage.pk,
                "quantity": "3",
                "occurred_at": "2026-01-15T12:00:00Z",
                "idempotency_key": "meter-1",
            }
        ],
        source="tests",
    )
    milestone_achieve(milestone=design, achieved_on=date(2026, 1, 20), achieved_by="finance")
    with TestCase.captureOnCommitCallbacks(execute=True):
        run = bill_run_start(as_of=date(2026, 1, 31))
    invoice = Invoice.objects.get(bill_run=run)  # the milestone was invoiced on achievement
    SellerProfile.current()
    payment_record(
        customer=contract.customer,
        amount=Money(50, "USD"),
        received_on=date(2026, 2, 1),
        method=Payment.Method.BANK_TRANSFER,
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        credit_note_issue(
            credit_note=credit_note_create(
                invoice=invoice,
                reason="Goodwill",
                lines=[(invoice.lines.first(), Money(10, "USD"))],
            ),
            issue_date=date(2026, 2, 2),
        )
    ChangeOrder.objects.create(
        contract=contract,
        reference="CO-1",
        reason="Two more interfaces",
        not_to_exceed_increase=Money(500, "USD"),
        requested_by="pm",
    )
    template, _ = MilestoneTemplate.objects.get_or_create(name="Implementation 30/40/30")
    if not template.steps.exists():  # seeded by a migration, unless a flush removed it
        for sequence, (name, percent) in enumerate([("Design", 30), ("Build", 40), ("Go", 30)]):
            template.steps.create(sequence=sequence + 1, name=name, percent=Decimal(percent))
    ProgressEntry.objects.create(
        obligation=built.obligation_link.obligation,
        measured_on=date(2026, 1, 15),
        incurred=Decimal(1),
        estimated_total=Decimal(4),
    )
    period_close(through=date(2026, 1, 31), closed_by="finance")  # a revenue run, a closed month
    seats = Modification.objects.create(
        contract=contract, reference="A-1", effective_date=date(2026, 3, 1), description="Seats"
    )
    ModificationChange.objects.create(
        modification=seats, kind="change_quantity", line=subscription, quantity=Decimal(3)
    )
    with TestCase.captureOnCommitCallbacks(execute=True):  # an applied contract modification
        modification_apply(modification=seats, by="finance")
    bonus = variable_consideration_create(  # variable consideration, assessed once
        contract=contract,
        kind="performance_bonus",
        description="Go-live bonus",
        method="most_likely",
    )
    variable_consideration_assess(
        item=bonus,
        period=date(2026, 2, 1),
        scenarios=[
            Scenario(Money(0, "USD"), Decimal("0.4")),
            Scenario(Money(900, "USD"), Decimal("0.6")),
        ],
    )
    with TestCase.captureOnCommitCallbacks(execute=True):  # a finished import job, with errors
        import_job_start(
            layout="contracts",
            data=b"contract_number,customer_number,start_date,line_sequence,sku\nK,NOBODY,x,1,S\n",
            file_name="contracts.csv",
            mode=Mode.ALL_OR_NOTHING,
            dry_run=False,
            user=user,
        )

    return user


@pytest.fixture
def finance_client(client, book):
    """A client logged in as the book's superuser, as finance admins use the back office."""
    client.force_login(book)
    return client


def registered_models():
    # An unmanaged model has no rows to list (reports.Report only opens the finance reports,
    # whose pages tests/reports covers).
    return [model for model in admin.site._registry if model._meta.managed]


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.label)
def test_every_changelist_renders(finance_client, book, model):
    response = finance_client.get(admin_url(model, "changelist"), follow=True)
    assert response.status_code == 200
    if response.redirect_chain:
        # A one-row model (the seller profile) opens its row instead of a list.
        assert response.redirect_chain == [
            (admin_url(model, "change", model.objects.get().pk), 302)
        ]
    else:
        assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.label)
def test_every_add_page_renders_where_adding_is_allowed(finance_client, rf, book, model):
    request = rf.get("/")
    request.user = get_user_model().objects.get(username="finance")
    expected = 200 if admin.site._registry[model].has_add_permission(request) else 403
    assert finance_client.get(admin_url(model, "add")).status_code == expected


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.label)
def test_every_change_page_renders_its_record(finance_client, book, model):
    obj = model.objects.first()
    assert obj is not None, f"add a {model._meta.verbose_name} to the book fixture"
    response = finance_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200
    assert str(obj) in response.content.decode()
