"""Milestones and budgets in the admin: the contract page's widgets and buttons, the milestones
list, the schedule editor, change orders and milestone templates.

Dates are relative to today: the buttons achieve "today", and "overdue" means before today.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from billing.milestones import milestone_achieve
from billing.models import BillingEvent, Invoice
from contracts.models import ChangeOrder, Contract, ContractLine, Milestone, MilestoneTemplate
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db


def usd(amount) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def today():
    return timezone.localdate()


def plan_milestones(line: ContractLine, plans: list[tuple[str, date, int]]) -> None:
    """Give ``line`` planned milestones, in order: (name, planned date, amount in USD)."""
    for sequence, (name, planned_date, amount) in enumerate(plans, start=1):
        Milestone.objects.create(
            line=line, sequence=sequence, name=name, planned_date=planned_date, amount=usd(amount)
        )


@pytest.fixture
def project(contract_factory, contract_line_factory, activate, today):
    """An active 100,000.00 USD project (cap 120,000.00): Design overdue, Build due in 20 days,
    Go-live in 90 days."""
    contract = contract_factory(
        number="K-MS-1",
        start_date=today - timedelta(days=120),
        end_date=today + timedelta(days=245),
        not_to_exceed=usd(120_000),
    )
    line = contract_line_factory(
        contract=contract,
        sequence=1,
        milestone=True,
        unit_price=usd(100_000),
        description="Implementation",
    )
    plan_milestones(
        line,
        [
            ("Design", today - timedelta(days=30), 30_000),
            ("Build", today + timedelta(days=20), 40_000),
            ("Go-live", today + timedelta(days=90), 30_000),
        ],
    )
    activate(contract)
    return contract


def milestone(name: str) -> Milestone:
    return Milestone.objects.get(name=name)


def contract_page(client: Client, contract: Contract) -> str:
    response = client.get(admin_url(Contract, "change", contract.pk))
    assert response.status_code == 200
    return response.content.decode()


def achieve_url(m: Milestone) -> str:
    return reverse("admin:contracts_milestone_achieve", args=[m.pk])


def approve_url(m: Milestone) -> str:
    return reverse("admin:contracts_milestone_approve", args=[m.pk])


def page_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def run_action(client: Client, action: str, objects: list, **fields):
    """Run a list page's ``action`` on ``objects`` (the action form's other ``fields`` too)."""
    selected = {"action": action, "_selected_action": [o.pk for o in objects], **fields}
    return client.post(admin_url(type(objects[0]), "changelist"), selected, follow=True)


def change_order(
    contract: Contract, reference: str, increase: int, requested_by="pm", approved_by=""
) -> ChangeOrder:
    """Ask for a change order raising the cap by ``increase`` USD; approved if ``approved_by``."""
    return ChangeOrder.objects.create(
        contract=contract,
        reference=reference,
        reason="Scope",
        not_to_exceed_increase=usd(increase),
        requested_by=requested_by,
        approved_by=approved_by,
        approved_at=timezone.now() if approved_by else None,
    )


@pytest.fixture
def clerk(django_user_model):
    """A staff user who may use the admin's contracts and milestones, with no special powers."""

    def make(username: str = "clerk", *codenames: str) -> Client:
        user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw")
        user.is_staff = True
        user.save()
        basics = ["view_contract", "change_contract", "view_milestone", "change_milestone"]
        user.user_permissions.set(
            Permission.objects.filter(
                content_type__app_label="contracts", codename__in=[*basics, *codenames]
            )
        )
        client = Client()
        client.force_login(user)
        return client

    return make


# The contract page ------------------------------------------------------------------------------


def test_the_contract_page_shows_the_schedule_progress_and_overdue_milestones(
    staff_client, project, today
):
    milestone_achieve(milestone=milestone("Build"), achieved_on=today, achieved_by="pm")

    page = contract_page(staff_client, project)

    assert 'id="milestones"' in page
    assert "Line 1 · Implementation" in page
    # Invoiced 40,000 of 100,000: the bar's invoiced segment is 40% wide.
    assert 'class="ms-seg ms-seg-invoiced" style="width: 40.00%"' in page
    assert "40% achieved" in page
    # Next planned milestone by date: Design (overdue, in red) comes before Go-live.
    next_card = page.split("Next milestone")[1].split("</div>")[0]
    assert "Design" in next_card and "ms-overdue" in next_card
    overdue_card = page.split('ms-tally-overdue">')[1].split("</div>")[0]
    assert "$30,000.00" in overdue_card and "1 planned milestone past its date" in overdue_card
    invoice = Invoice.objects.get()
    assert f">{invoice.number or 'draft'}</a>" in page
    # One Achieve button per planned milestone, none for the invoiced one.
    assert page.count('class="button ms-achieve"') == 2
    assert achieve_url(milestone("Design")) in page
    assert achieve_url(milestone("Build")) not in page
    # The buttons post the separate actions form, never the contract's own.
    assert 'form="contract-actions"' in page and '<form id="contract-actions"' in page
    assert "The schedule totals" not in page


def test_the_widget_warns_when_the_schedule_does_not_sum_to_the_line_value(staff_client, project):
    Milestone.objects.filter(name="Go-live").update(amount=usd(20_000))

    page = contract_page(staff_client, project)

    assert "The schedule totals <strong>$90,000.00</strong>" in page
    assert "the line's value is\n      <strong>$100,000.00</strong>" in page


def test_the_budget_panel_counts_approved_change_orders_and_flags_an_overrun(staff_client, project):
    change_order(project, "CO-1", 5_000, approved_by="cfo")
    Contract.objects.filter(pk=project.pk).update(not_to_exceed=Money(90_000, "USD"))

    page = contract_page(staff_client, project)

    budget = page.split('id="budget"')[1]
    assert "ms-over" in page.split('id="budget"')[0].rsplit("<div", 1)[1]
    assert "$95,000.00" in budget  # 90,000 + the approved 5,000
    assert "incl. $5,000.00 of approved change orders" in budget
    assert "Over budget" in budget and "<strong>$5,000.00</strong> more than" in budget


def test_a_contract_without_milestone_lines_shows_the_budget_but_no_widget(
    staff_client, contract_line_factory
):
    contract = contract_line_factory().contract

    page = contract_page(staff_client, contract)

    assert 'id="budget"' in page and 'id="milestones"' not in page
    assert "no cap" in page


def test_the_contract_page_costs_a_bounded_number_of_queries(
    staff_client, project, contract_line_factory, django_assert_max_num_queries
):
    for _ in range(3):
        line = contract_line_factory(contract=project, milestone=True, unit_price=usd(1_000))
        plan_milestones(
            line, [(f"Step {n}", project.start_date + timedelta(days=n), 200) for n in range(1, 6)]
        )
    with django_assert_max_num_queries(60):
        contract_page(staff_client, project)


# The Achieve and Approve buttons ----------------------------------------------------------------


def test_achieve_invoices_at_once_and_names_the_invoice(staff_client, project, today):
    design = milestone("Design")

    response = staff_client.post(achieve_url(design), follow=True)

    assert response.redirect_chain == [
        (admin_url(Contract, "change", project.pk) + "#milestones", 302)
    ]
    design.refresh_from_db()
    assert (design.status, design.achieved_on, design.achieved_by) == (
        Milestone.Status.INVOICED,
        today,
        "finance",
    )
    invoice = Invoice.objects.get()
    assert invoice.total == usd(30_000)
    [message] = page_messages(response)
    if invoice.number:
        assert "K-MS-1 #1.1 Design is invoiced: invoice <a href" in message
        assert invoice.number in message
    else:
        assert "draft invoice</a> for 30,000.00 USD waits for review" in message


def test_achieve_on_a_contract_that_needs_approval_waits_then_approve_invoices(
    staff_client, clerk, project
):
    Contract.objects.filter(pk=project.pk).update(milestone_approval=True)
    pm = clerk("pm", "achieve_milestone")
    design = milestone("Design")

    response = pm.post(achieve_url(design), follow=True)

    assert page_messages(response) == [
        "K-MS-1 #1.1 Design is achieved and waits for a finance approver before it is invoiced."
    ]
    assert not Invoice.objects.exists()
    # The finance user sees an Approve button, and the list the emails link to shows it.
    page = contract_page(staff_client, project)
    assert approve_url(design) in page
    waiting = staff_client.get(admin_url(Milestone, "changelist") + "?awaiting=approval")
    assert [m.name for m in waiting.context["cl"].result_list] == ["Design"]

    response = staff_client.post(approve_url(design), follow=True)

    design.refresh_from_db()
    assert design.status == Milestone.Status.INVOICED and design.approved_by == "finance"
    assert "K-MS-1 #1.1 Design is invoiced" in page_messages(response)[0]


def test_the_achiever_cannot_approve_their_own_milestone(staff_client, project):
    Contract.objects.filter(pk=project.pk).update(milestone_approval=True)
    design = milestone("Design")
    staff_client.post(achieve_url(design), follow=True)

    response = staff_client.post(approve_url(design), follow=True)

    assert page_messages(response) == [
        f"{design}: finance achieved this milestone; someone else approves it."
    ]
    design.refresh_from_db()
    assert design.awaiting_approval


def test_achieving_twice_or_out_of_order_shows_the_service_error(staff_client, project):
    Contract.objects.filter(pk=project.pk).update(milestones_in_order=True)
    build = milestone("Build")

    response = staff_client.post(achieve_url(build), follow=True)

    assert page_messages(response) == [
        f"{build}: Contract K-MS-1 achieves its milestones in order: 'Design' comes first."
    ]
    design = milestone("Design")
    staff_client.post(achieve_url(design))
    response = staff_client.post(achieve_url(design), follow=True)
    assert "was already achieved on" in page_messages(response)[-1]
    assert BillingEvent.objects.filter(kind=BillingEvent.Kind.MILESTONE).count() == 1


def test_a_held_contract_says_the_invoice_follows_the_release(staff_client, project):
    Contract.objects.filter(pk=project.pk).update(billing_hold=True, hold_reason="Disputed PO")

    response = staff_client.post(achieve_url(milestone("Design")), follow=True)

    [message] = page_messages(response)
    assert message.startswith("K-MS-1 #1.1 Design is not invoiced yet: the contract or customer is")
    assert "(Disputed PO)" in message
    assert not Invoice.objects.exists()
    # The list and the contract page say why it waits.
    listed = staff_client.get(admin_url(Milestone, "changelist")).content.decode()
    assert 'Achieved <span class="ms-awaiting" title="Disputed PO">(on hold)</span>' in listed
    assert '<span class="ms-kept" title="Disputed PO">on hold</span>' in contract_page(
        staff_client, project
    )


def test_the_buttons_need_their_permission_and_a_post(clerk, project):
    plain = clerk("plain")
    design = milestone("Design")

    assert plain.post(achieve_url(design)).status_code == 403
    assert plain.post(approve_url(design)).status_code == 403
    assert achieve_url(design) not in contract_page(plain, project)
    achiever = clerk("pm", "achieve_milestone")
    assert achiever.get(achieve_url(design)).status_code == 405
    design.refresh_from_db()
    assert design.status == Milestone.Status.PLANNED
    assert achiever.post(reverse("admin:contracts_milestone_achieve", args=[0])).status_code == 404


def test_a_draft_contract_offers_no_achieve_button_and_refuses_a_forged_one(staff_client, project):
    Contract.objects.filter(pk=project.pk).update(status=Contract.Status.DRAFT)
    design = milestone("Design")

    assert 'class="button ms-achieve"' not in contract_page(staff_client, project)
    response = staff_client.post(achieve_url(design), follow=True)

    assert page_messages(response) == [f"{design}: Contract K-MS-1 is draft, not active."]
    assert milestone("Design").status == Milestone.Status.PLANNED


def test_the_buttons_are_csrf_protected(django_user_model, project):
    user = django_user_model.objects.create_superuser("finance", "f@example.com", "pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    assert client.post(achieve_url(milestone("Design"))).status_code == 403
    assert milestone("Design").status == Milestone.Status.PLANNED


# The milestones list ----------------------------------------------------------------------------


def changelist(client: Client, query: str = "") -> list[str]:
    response = client.get(admin_url(Milestone, "changelist") + query)
    assert response.status_code == 200
    return [m.name for m in response.context["cl"].result_list]


def test_the_due_filter_shows_overdue_upcoming_and_awaiting_approval(staff_client, project):
    assert changelist(staff_client) == ["Design", "Build", "Go-live"]  # by planned date
    assert changelist(staff_client, "?due=overdue") == ["Design"]
    assert changelist(staff_client, "?due=next_30_days") == ["Build"]
    assert changelist(staff_client, "?awaiting=approval") == []
    page = staff_client.get(admin_url(Milestone, "changelist")).content.decode()
    assert '<span class="ms-overdue" title="Overdue">' in page
    assert 'href="?awaiting=approval"' in page  # the filter's own link is the emails' link
    counted = staff_client.get(admin_url(Milestone, "changelist") + "?_facets=1&due=overdue")
    assert "Overdue (1)" in counted.content.decode()
    assert [m.name for m in counted.context["cl"].result_list] == ["Design"]


def test_the_achieve_action_uses_the_date_and_reference_and_reports_invoices(
    staff_client, project, today
):
    design, build = milestone("Design"), milestone("Build")

    response = run_action(
        staff_client,
        "achieve",
        [design, build],
        achieved_on=(today - timedelta(days=2)).isoformat(),
        reference="PSA-7",
    )

    shown = page_messages(response)
    assert shown[0] == "Marked 2 milestone(s) achieved."
    assert [m.split(" is ")[0] for m in shown[1:]] == ["K-MS-1 #1.1 Design", "K-MS-1 #1.2 Build"]
    design.refresh_from_db()
    assert (design.achieved_on, design.external_reference, design.status) == (
        today - timedelta(days=2),
        "PSA-7",
        Milestone.Status.INVOICED,
    )
    page = response.content.decode()
    invoice = Invoice.objects.order_by("pk").first()
    assert reverse("admin:billing_invoice_change", args=[invoice.pk]) in page


def test_the_achieve_action_refuses_a_bad_date_and_a_future_one(staff_client, project, today):
    design = milestone("Design")

    response = run_action(staff_client, "achieve", [design], achieved_on="31/02/2026")
    assert page_messages(response) == ["Achieved on: '31/02/2026' is not a date."]
    tomorrow = today + timedelta(days=1)
    response = run_action(staff_client, "achieve", [design], achieved_on=tomorrow.isoformat())
    assert page_messages(response) == [
        f"{design}: {tomorrow} is in the future; a milestone is achieved once done."
    ]
    assert milestone("Design").status == Milestone.Status.PLANNED


def test_the_approve_and_cancel_actions(staff_client, clerk, project):
    Contract.objects.filter(pk=project.pk).update(milestone_approval=True)
    design, build, go_live = milestone("Design"), milestone("Build"), milestone("Go-live")
    clerk("pm", "achieve_milestone").post(achieve_url(design))

    response = run_action(staff_client, "approve", [design, build])
    shown = page_messages(response)
    assert f"{build}: Milestone 'Build' is not waiting for approval (Planned)." in shown
    assert "Approved 1 milestone(s)." in shown
    assert milestone("Design").status == Milestone.Status.INVOICED

    response = run_action(staff_client, "cancel", [design, go_live], reason="Descoped")
    shown = page_messages(response)
    assert "Cancelled 1 milestone(s)." in shown
    assert any("only a planned milestone is cancelled" in m for m in shown)
    go_live.refresh_from_db()
    assert go_live.status == Milestone.Status.CANCELLED and "Descoped" in go_live.evidence


def test_the_actions_need_their_permissions(clerk, project):
    plain = clerk("plain")
    design = milestone("Design")

    response = plain.get(admin_url(Milestone, "changelist"))
    actions = [choice[0] for choice in response.context["action_form"].fields["action"].choices]
    assert "achieve" not in actions and "approve" not in actions and "cancel" in actions
    run_action(plain, "achieve", [design])
    assert milestone("Design").status == Milestone.Status.PLANNED


def test_the_milestones_list_costs_a_fixed_number_of_queries(
    staff_client,
    contract_factory,
    contract_line_factory,
    activate,
    today,
    django_assert_max_num_queries,
):
    def add_contracts(count: int) -> None:
        for _ in range(count):
            contract = contract_factory(start_date=today - timedelta(days=60))
            line = contract_line_factory(contract=contract, milestone=True, unit_price=usd(300))
            plan_milestones(
                line, [(f"Step {n}", today + timedelta(days=n * 10 - 15), 100) for n in range(1, 4)]
            )
            activate(contract)
            milestone_achieve(
                milestone=line.milestones.get(sequence=1), achieved_on=today, achieved_by="pm"
            )

    add_contracts(2)
    with django_assert_max_num_queries(100) as few:
        staff_client.get(admin_url(Milestone, "changelist"))
    add_contracts(8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = staff_client.get(admin_url(Milestone, "changelist"))
    assert response.context["cl"].result_count == 30


# The schedule editor ----------------------------------------------------------------------------


def schedule_url(contract: Contract) -> str:
    return reverse("admin:contracts_milestone_schedule", args=[contract.lines.get().pk])


def formset_data(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    """A formset's POST data: its management form, then each row's fields."""
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for field, value in row.items():
            data[f"{prefix}-{index}-{field}"] = value
    return data


def schedule_post(rows: list[dict], initial: int = 0) -> dict:
    return formset_data("milestones", rows, initial)


def test_the_schedule_editor_lists_history_read_only_and_the_planned_ones_as_rows(
    staff_client, project, today
):
    milestone_achieve(milestone=milestone("Design"), achieved_on=today, achieved_by="pm")

    response = staff_client.get(schedule_url(project))

    assert response.status_code == 200
    page = response.content.decode()
    history = page.split('id="history"')[1].split("</table>")[0]
    assert "Design" in history and 'name="milestones-' not in history
    formset = response.context["formset"]
    assert [form.initial["name"] for form in formset.initial_forms] == ["Build", "Go-live"]
    assert formset.initial_forms[0].initial["amount"] == Decimal("40000.00")
    assert 'left to schedule <strong id="to-schedule">$70,000.00</strong>' in page
    assert contract_page(staff_client, project).count(schedule_url(project)) == 1


def test_saving_a_schedule_replaces_the_planned_milestones(staff_client, project, today):
    milestone_achieve(milestone=milestone("Design"), achieved_on=today, achieved_by="pm")
    day = (today + timedelta(days=40)).isoformat()
    rows = [
        {"name": "Build", "planned_date": day, "amount": "", "percent": "50"},
        {"name": "Training", "planned_date": day, "amount": "5000", "percent": ""},
        {
            "name": "Go-live",
            "planned_date": day,
            "amount": "15000",
            "percent": "",
            "external_reference": "PSA-9",
        },
        {"name": "", "planned_date": "", "amount": "", "percent": ""},  # a blank extra row
    ]

    response = staff_client.post(schedule_url(project), schedule_post(rows, initial=2), follow=True)

    assert (
        response.redirect_chain[-1][0] == admin_url(Contract, "change", project.pk) + "#milestones"
    )
    assert page_messages(response) == ["Saved the schedule of line 1: 3 planned milestone(s)."]
    line = project.lines.get()
    assert [(m.name, m.status, m.amount) for m in line.milestones.order_by("sequence")] == [
        ("Design", Milestone.Status.INVOICED, usd(30_000)),
        ("Build", Milestone.Status.PLANNED, usd(50_000)),
        ("Training", Milestone.Status.PLANNED, usd(5_000)),
        ("Go-live", Milestone.Status.PLANNED, usd(15_000)),
    ]
    assert line.milestones.get(name="Go-live").external_reference == "PSA-9"


def test_a_schedule_that_does_not_sum_is_refused_with_both_figures(staff_client, project, today):
    day = (today + timedelta(days=40)).isoformat()
    rows = [
        {"name": "Design", "planned_date": day, "amount": "30000", "percent": ""},
        {"name": "Build", "planned_date": day, "amount": "", "percent": "40"},
    ]

    response = staff_client.post(schedule_url(project), schedule_post(rows, initial=3))

    assert response.status_code == 200
    errors = response.content.decode().split('id="schedule-errors"')[1].split("</div>")[0]
    assert "sum to 70,000.00 USD" in errors and "the line&#x27;s value is 100,000.00 USD" in errors
    assert milestone("Go-live").status == Milestone.Status.PLANNED  # nothing changed


def test_each_row_needs_an_amount_or_a_percent_not_both(staff_client, project, today):
    day = (today + timedelta(days=40)).isoformat()
    rows = [
        {"name": "Design", "planned_date": day, "amount": "30000", "percent": "30"},
        {"name": "Build", "planned_date": day, "amount": "", "percent": ""},
        {"name": "Go-live", "planned_date": "someday", "amount": "-5", "percent": "120"},
    ]

    response = staff_client.post(schedule_url(project), schedule_post(rows, initial=3))

    forms = response.context["formset"].forms
    assert forms[0].errors == {"amount": ["Give an amount or a percent, not both."]}
    assert forms[1].errors == {"amount": ["Give an amount or a percent of the line's value."]}
    assert set(forms[2].errors) == {"planned_date", "amount", "percent"}
    assert Milestone.objects.filter(status=Milestone.Status.PLANNED).count() == 3


def test_applying_a_template_lays_its_percents_over_the_line(staff_client, project):
    template = MilestoneTemplate.objects.create(name="Halves")
    template.steps.create(sequence=1, name="Start", percent=Decimal(50), days_after_start=0)
    template.steps.create(sequence=2, name="Finish", percent=Decimal(50), days_after_start=100)

    response = staff_client.post(
        schedule_url(project), {"apply_template": "1", "template": template.pk}, follow=True
    )

    assert response.redirect_chain[-1][0] == schedule_url(project)
    assert page_messages(response)[0].startswith("Applied Halves to line 1: 2 planned")
    line = project.lines.get()
    assert [(m.name, m.amount, m.planned_date) for m in line.milestones.all()] == [
        ("Start", usd(50_000), line.service_start),
        ("Finish", usd(50_000), line.service_start + timedelta(days=100)),
    ]


def test_a_template_is_refused_once_milestones_are_achieved(staff_client, project, today):
    milestone_achieve(milestone=milestone("Design"), achieved_on=today, achieved_by="pm")
    template = MilestoneTemplate.objects.create(name="Whole")
    template.steps.create(sequence=1, name="All", percent=Decimal(100))

    response = staff_client.post(
        schedule_url(project), {"apply_template": "1", "template": template.pk}
    )

    assert response.status_code == 200
    assert "has achieved milestones; a template spreads" in response.content.decode()
    assert not Milestone.objects.filter(name="All").exists()


def test_the_schedule_editor_needs_the_change_permission_and_a_milestone_line(
    clerk, django_user_model, project, contract_line_factory
):
    viewer = django_user_model.objects.create_user("viewer", "v@example.com", "pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_milestone"))
    client = Client()
    client.force_login(viewer)
    assert client.get(schedule_url(project)).status_code == 403
    subscription = contract_line_factory(contract=project)
    url = reverse("admin:contracts_milestone_schedule", args=[subscription.pk])
    assert clerk("editor").get(url).status_code == 404


# Change orders, the contract list's budget filter, milestone templates -------------------------


def post_contract_form(client: Client, contract: Contract, changes: dict):
    """Post the contract page's form back as a browser would, with ``changes`` made to it."""
    url = admin_url(Contract, "change", contract.pk)
    return client.post(url, {**contract_form_data(client, contract), **changes})


def contract_form_data(client: Client, contract: Contract) -> dict:
    """The contract change form's current values, as the browser would post them back."""
    response = client.get(admin_url(Contract, "change", contract.pk))
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    values = {
        field.html_name: field.value()
        for form in forms
        for field in form
        if not field.field.disabled  # a browser posts no disabled input
    }
    # A browser posts an unchecked box and an empty value as nothing.
    return {
        name: value for name, value in values.items() if value is not None and value is not False
    }


def test_a_change_order_added_on_the_contract_page_is_requested_by_the_user(staff_client, project):
    new = {
        "reference": "CO-7",
        "reason": "Two more interfaces",
        "not_to_exceed_increase": "15000",
        "cost_budget_increase": "",
    }

    response = post_contract_form(staff_client, project, formset_data("change_orders", [new]))

    assert response.status_code == 302, response.context["errors"]
    change_order = ChangeOrder.objects.get()
    assert (change_order.requested_by, change_order.not_to_exceed_increase) == (
        "finance",
        usd(15_000),
    )
    assert not change_order.approved


def test_the_contract_page_cannot_edit_or_delete_an_approved_change_order(staff_client, project):
    approved = change_order(project, "CO-5", 1_000, approved_by="cfo")

    response = post_contract_form(
        staff_client,
        project,
        {
            "change_orders-0-id": str(approved.pk),
            "change_orders-0-reference": "CO-5b",
            "change_orders-0-not_to_exceed_increase": "99000",
            "change_orders-0-DELETE": "on",
        },
    )

    assert response.status_code == 302
    approved.refresh_from_db()
    assert (approved.reference, approved.not_to_exceed_increase) == ("CO-5", usd(1_000))


def test_approving_a_change_order_from_the_contract_page_raises_the_cap(
    staff_client, clerk, project
):
    waiting = change_order(project, "CO-1", 10_000)
    url = reverse("admin:contracts_changeorder_approve", args=[waiting.pk])
    assert url in contract_page(staff_client, project)
    assert url not in contract_page(clerk("plain"), project)
    assert clerk("other").post(url).status_code == 403

    response = staff_client.post(url, follow=True)

    assert response.redirect_chain == [(admin_url(Contract, "change", project.pk) + "#budget", 302)]
    assert page_messages(response) == [
        "Approved change order CO-1 of K-MS-1: its not-to-exceed is now 130,000.00 USD."
    ]
    waiting.refresh_from_db()
    assert waiting.approved_by == "finance"
    # Approved: history. The page shows it read-only, with no Approve button.
    page = contract_page(staff_client, project)
    assert url not in page
    reference = page.split('name="change_orders-0-reference"')[1].split(">")[0]
    assert " disabled " in reference


def test_a_requester_cannot_approve_their_own_change_order(staff_client, project):
    own = change_order(project, "CO-2", 1, requested_by="finance")

    response = run_action(staff_client, "approve", [own])

    assert page_messages(response) == [
        "finance requested change order CO-2; someone else approves it."
    ]
    own.refresh_from_db()
    assert not own.approved


def test_an_approved_change_order_is_read_only(staff_client, project):
    approved = change_order(project, "CO-3", 1, approved_by="cfo")

    page = staff_client.get(admin_url(ChangeOrder, "change", approved.pk)).content.decode()
    assert 'name="reference"' not in page
    assert staff_client.post(admin_url(ChangeOrder, "delete", approved.pk)).status_code == 403


def test_the_contract_list_filters_contracts_over_budget(
    staff_client, project, contract_line_factory
):
    other = contract_line_factory().contract
    Contract.objects.filter(pk=project.pk).update(not_to_exceed=usd(50_000))

    response = staff_client.get(admin_url(Contract, "changelist") + "?budget=over")

    assert [c.pk for c in response.context["cl"].result_list] == [project.pk]
    assert other.pk not in [c.pk for c in response.context["cl"].result_list]


def test_a_template_whose_percents_do_not_make_100_is_refused_with_the_sum(staff_client):
    steps = [
        {"sequence": "1", "name": "Start", "percent": "33.5", "days_after_start": "0"},
        {"sequence": "2", "name": "End", "percent": "60", "days_after_start": "30"},
    ]
    data = {"name": "Lopsided", "description": "", "active": "on", **formset_data("steps", steps)}

    response = staff_client.post(admin_url(MilestoneTemplate, "add"), data)

    assert response.status_code == 200
    assert "The steps&#x27; percents sum to 93.5%; they must sum to 100%." in (
        response.content.decode()
    )
    assert not MilestoneTemplate.objects.filter(name="Lopsided").exists()
    data["steps-1-percent"] = "66.5"
    assert staff_client.post(admin_url(MilestoneTemplate, "add"), data).status_code == 302
    assert MilestoneTemplate.objects.get(name="Lopsided").steps.count() == 2


def test_the_achieve_button_tells_the_followers(
    staff_client, project, django_user_model, django_capture_on_commit_callbacks
):
    pm = django_user_model.objects.create_user("pm", "pm@example.com", "pw")
    Contract.objects.filter(pk=project.pk).update(project_manager=pm)

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(achieve_url(milestone("Design")))

    [email] = [m for m in mail.outbox if m.to == ["pm@example.com"]]
    assert "Design" in email.subject
