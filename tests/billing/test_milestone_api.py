"""The milestone API: achieving by token (idempotent by reference), approval, schedules, reads."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money
from rest_framework.test import APIClient

from billing.milestones import milestone_achieve
from billing.models import BillingEvent, Invoice
from contracts.models import Contract, ContractLine, Milestone, MilestoneTemplate
from contracts.services import HoldKind, hold_set

pytestmark = pytest.mark.django_db

MILESTONES = "/api/v1/milestones/"
TEMPLATES = "/api/v1/milestone-templates/"


def achieve_url(milestone: Milestone, step: str = "achieve") -> str:
    return f"{MILESTONES}{milestone.pk}/{step}/"


def schedule_url(line: ContractLine) -> str:
    return f"/api/v1/contract-lines/{line.pk}/milestone-schedule/"


@pytest.fixture
def psa(token_client) -> APIClient:
    """The PSA's integration user: reads milestones and marks them achieved."""
    return token_client("psa", "view_milestone", "achieve_milestone", "view_contract")


@pytest.fixture
def project(milestone_project) -> list[Milestone]:
    """The PSA's project: Go-live is planned in December, so only two milestones are overdue."""
    return milestone_project(
        number="K-PSA", planned=(date(2026, 3, 1), date(2026, 6, 1), date(2026, 12, 1))
    )


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    """POST as a request does: committed, so that the after-commit work (emails) runs too."""

    def post(client: APIClient, url: str, body: dict | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, body or {}, format="json")

    return post


def milestone_invoices() -> list[Invoice]:
    return list(Invoice.objects.filter(lines__event__kind=BillingEvent.Kind.MILESTONE).distinct())


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


class TestAchieve:
    def test_the_same_reference_twice_gives_one_invoice(self, psa, project, post):
        design = project[0]
        body = {"achieved_on": "2026-03-10", "reference": "PSA-123", "evidence": "UAT signed"}

        first = post(psa, achieve_url(design), body)
        again = post(psa, achieve_url(design), {**body, "achieved_on": "2026-03-11"})

        assert first.status_code == 200, first.json()
        [invoice] = milestone_invoices()
        assert first.json() == {
            "id": design.pk,
            "contract": design.line.contract_id,
            "contract_number": "K-PSA",
            "line": design.line_id,
            "sequence": 1,
            "name": "Design",
            "description": "",
            "planned_date": "2026-03-01",
            "percent": None,
            "amount": usd("30000.00"),
            "status": "invoiced",
            "overdue": False,
            "achieved_on": "2026-03-10",
            "achieved_by": "psa",
            "external_reference": "PSA-123",
            "evidence": "UAT signed",
            "approved_at": first.json()["approved_at"],
            "approved_by": "psa",
            "awaiting_approval": False,
            "billing_state": "invoiced",
            "billing_reason": "",
            "invoice": {
                "id": invoice.pk,
                "number": invoice.number,
                "status": "issued",
                "invoice_date": timezone.localdate().isoformat(),
                "total": usd("30000.00"),
            },
        }
        assert first.json()["approved_at"] is not None
        # A retry is not an error: the milestone as it was, with the same single invoice.
        assert again.status_code == 200
        assert again.json() == first.json()
        assert BillingEvent.objects.filter(kind=BillingEvent.Kind.MILESTONE).count() == 1
        design.refresh_from_db()
        assert design.status == Milestone.Status.INVOICED

    def test_another_reference_is_refused_naming_the_status(self, psa, project, post):
        design = project[0]
        post(psa, achieve_url(design), {"achieved_on": "2026-03-10", "reference": "PSA-1"})

        refused = post(psa, achieve_url(design), {"achieved_on": "2026-03-12", "reference": "X"})

        assert refused.status_code == 400
        assert refused.json() == {
            "type": "validation_error",
            "detail": "status: Milestone 'Design' was already achieved on 2026-03-10.",
            "fields": {"status": ["Milestone 'Design' was already achieved on 2026-03-10."]},
        }
        assert len(milestone_invoices()) == 1
        design.refresh_from_db()
        assert (design.achieved_on, design.external_reference) == (date(2026, 3, 10), "PSA-1")

    def test_the_date_defaults_to_today(self, psa, project, post):
        response = post(psa, achieve_url(project[1]), {"reference": "PSA-2"})

        assert response.status_code == 200
        assert response.json()["achieved_on"] == timezone.localdate().isoformat()

    @pytest.mark.parametrize(
        ("body", "field", "message"),
        [
            ({"achieved_on": "10/03/2026"}, "achieved_on", "Date has wrong format"),
            ({"achieved_on": "2025-12-31"}, "achieved_on", "service starts on 2026-01-01"),
            ({"reference": "R" * 129}, "reference", "no more than 128 characters"),
        ],
    )
    def test_bad_input_is_a_400_naming_the_field(self, psa, project, post, body, field, message):
        response = post(psa, achieve_url(project[0]), body)

        assert response.status_code == 400
        assert list(response.json()["fields"]) == [field]
        assert message in response.json()["fields"][field][0]
        assert not BillingEvent.objects.filter(kind=BillingEvent.Kind.MILESTONE).exists()

    def test_a_future_date_is_refused(self, psa, project, post):
        tomorrow = timezone.localdate() + timedelta(days=1)
        response = post(psa, achieve_url(project[0]), {"achieved_on": tomorrow.isoformat()})
        assert response.status_code == 400
        assert "is in the future" in response.json()["fields"]["achieved_on"][0]

    def test_out_of_order_and_cancelled_are_refused(self, psa, project, post, token_client):
        design, build, go_live = project
        Contract.objects.filter(pk=design.line.contract_id).update(milestones_in_order=True)
        ahead = post(psa, achieve_url(build), {"achieved_on": "2026-06-10"})
        assert ahead.status_code == 400
        assert "'Design' comes first" in ahead.json()["fields"]["status"][0]

        finance = token_client(
            "finance-clerk", "change_milestone", "view_milestone", "view_contract"
        )
        cancelled = post(finance, achieve_url(go_live, "cancel"), {"reason": "descoped"})
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["billing_state"] == "cancelled"
        assert "Cancelled by finance-clerk" in cancelled.json()["evidence"]
        assert "descoped" in cancelled.json()["evidence"]
        refused = post(psa, achieve_url(go_live), {"achieved_on": "2026-11-01"})
        assert refused.status_code == 400
        assert refused.json()["fields"] == {"status": ["Milestone 'Go-live' is cancelled."]}
        again = post(finance, achieve_url(go_live, "cancel"))
        assert again.status_code == 400
        assert "only a planned milestone is cancelled" in again.json()["fields"]["status"][0]

    def test_a_held_milestone_says_so_and_has_no_invoice(self, psa, project, post):
        contract = project[0].line.contract
        hold_set(target=contract, kind=HoldKind.BILLING, on=True, reason="PO expired")

        response = post(psa, achieve_url(project[0]), {"achieved_on": "2026-03-10"})

        assert response.status_code == 200
        held = response.json()
        assert (held["status"], held["billing_state"], held["billing_reason"]) == (
            "achieved",
            "held",
            "PO expired",
        )
        assert held["invoice"] is None and milestone_invoices() == []

    def test_a_milestone_past_the_cap_says_why_it_is_blocked(self, psa, project, post):
        Contract.objects.filter(pk=project[0].line.contract_id).update(
            not_to_exceed=Money(20_000, "USD")
        )

        response = post(psa, achieve_url(project[0]), {"achieved_on": "2026-03-10"})

        assert response.status_code == 200
        assert response.json()["billing_state"] == "blocked"
        event = BillingEvent.objects.get(kind=BillingEvent.Kind.MILESTONE)
        assert event.blocked_reason and response.json()["billing_reason"] == event.blocked_reason
        assert response.json()["invoice"] is None and milestone_invoices() == []


class TestPermissions:
    def test_achieving_needs_a_login_and_the_achieve_permission(self, project, token_client, post):
        design = project[0]
        body = {"achieved_on": "2026-03-10"}
        assert post(APIClient(), achieve_url(design), body).status_code == 401
        bad_token = APIClient()
        bad_token.credentials(HTTP_AUTHORIZATION="Token nope")
        assert post(bad_token, achieve_url(design), body).status_code == 401
        reader = token_client("auditor", "view_milestone", "view_contract")
        assert post(reader, achieve_url(design), body).status_code == 403
        # Editing milestones is not achieving them either.
        editor = token_client("editor", "view_milestone", "change_milestone", "view_contract")
        assert post(editor, achieve_url(design), body).status_code == 403
        assert post(reader, achieve_url(design, "approve")).status_code == 403
        assert post(reader, achieve_url(design, "cancel")).status_code == 403

        design.refresh_from_db()
        assert design.status == Milestone.Status.PLANNED
        assert not BillingEvent.objects.filter(kind=BillingEvent.Kind.MILESTONE).exists()

    def test_reading_needs_the_view_permission(self, project, token_client):
        achiever = token_client("achiever-only", "achieve_milestone", "view_contract")
        for url in (MILESTONES, f"{MILESTONES}{project[0].pk}/", schedule_url(project[0].line)):
            assert APIClient().get(url).status_code == 401
            assert achiever.get(url).status_code == 403
        assert token_client("no-templates", "view_milestone").get(TEMPLATES).status_code == 403

    def test_setting_a_schedule_needs_the_change_permission(self, project, token_client):
        reader = token_client("reader", "view_milestone", "achieve_milestone", "view_contract")
        response = reader.put(
            schedule_url(project[0].line), {"template": "Implementation 30/40/30"}, format="json"
        )
        assert response.status_code == 403
        assert Milestone.objects.filter(line=project[0].line).count() == 3

    def test_a_session_login_works_too(self, staff_client, project):
        response = staff_client.post(
            achieve_url(project[0]),
            {"achieved_on": "2026-03-10", "reference": "UI-1"},
            content_type="application/json",
        )
        assert response.status_code == 200
        assert response.json()["achieved_by"] == "finance"


class TestApproval:
    @pytest.fixture
    def approval(self, project):
        Contract.objects.filter(pk=project[0].line.contract_id).update(milestone_approval=True)
        return project

    def test_an_achieved_milestone_waits_then_another_user_approves_it(
        self, approval, psa, token_client, post
    ):
        design = approval[0]
        achieved = post(psa, achieve_url(design), {"achieved_on": "2026-03-10", "reference": "P"})

        assert achieved.status_code == 200
        assert (achieved.json()["status"], achieved.json()["billing_state"]) == (
            "achieved",
            "awaiting_approval",
        )
        assert achieved.json()["awaiting_approval"] is True
        assert achieved.json()["invoice"] is None
        assert milestone_invoices() == []
        waiting = psa.get(MILESTONES, {"awaiting_approval": "true"}).json()["results"]
        assert [m["id"] for m in waiting] == [design.pk]

        # The achiever cannot approve their own milestone, even holding the permission.
        self_approver = token_client(
            "psa-lead", "approve_milestone", "achieve_milestone", "view_contract"
        )
        post(self_approver, achieve_url(approval[1]), {"achieved_on": "2026-06-10"})
        own = post(self_approver, achieve_url(approval[1], "approve"))
        assert own.status_code == 400
        assert own.json()["fields"] == {
            "approved_by": ["psa-lead achieved this milestone; someone else approves it."]
        }

        controller = token_client("controller", "approve_milestone", "view_contract")
        approved = post(controller, achieve_url(design, "approve"))

        assert approved.status_code == 200, approved.json()
        [invoice] = milestone_invoices()
        assert approved.json()["status"] == "invoiced"
        assert approved.json()["approved_by"] == "controller"
        assert approved.json()["achieved_by"] == "psa"
        assert approved.json()["invoice"]["id"] == invoice.pk
        assert approved.json()["invoice"]["total"] == usd("30000.00")
        again = post(controller, achieve_url(design, "approve"))
        assert again.status_code == 400
        assert "not waiting for approval" in again.json()["fields"]["status"][0]
        assert len(milestone_invoices()) == 1


class TestSchedule:
    @pytest.fixture
    def line(self, contract_factory, contract_line_factory):
        return contract_line_factory(
            contract=contract_factory(), milestone=True, unit_price=Money(100_000, "USD")
        )

    @pytest.fixture
    def editor(self, token_client) -> APIClient:
        return token_client("planner", "view_milestone", "change_milestone", "view_contract")

    def put(self, client, line, body):
        return client.put(schedule_url(line), body, format="json")

    def test_a_schedule_that_does_not_sum_is_refused_with_both_figures(self, editor, line):
        self.put(editor, line, {"template": "Implementation 30/40/30"})
        before = list(Milestone.objects.filter(line=line).values_list("pk", "name", "amount"))

        response = self.put(
            editor,
            line,
            {
                "milestones": [
                    {"name": "A", "planned_date": "2026-02-01", "amount": usd("50000.00")},
                    {"name": "B", "planned_date": "2026-05-01", "amount": usd("40000.00")},
                ]
            },
        )

        assert response.status_code == 400
        [message] = response.json()["fields"]["milestones"]
        assert message == (
            "The milestones sum to 90,000.00 USD but the line's value is 100,000.00 USD; they "
            "must sum exactly to it."
        )
        after = list(Milestone.objects.filter(line=line).values_list("pk", "name", "amount"))
        assert after == before and len(after) == 3

    def test_passed_in_milestones_by_amount_and_percent(self, editor, line):
        response = self.put(
            editor,
            line,
            {
                "milestones": [
                    {
                        "name": "Kick-off",
                        "planned_date": "2026-02-01",
                        "amount": usd("12345.00"),
                        "external_reference": "PSA-1",
                        "description": "Signed SOW",
                    },
                    {"name": "Half", "planned_date": "2026-06-01", "percent": "33.3333"},
                    {"name": "Rest", "planned_date": "2026-09-01", "percent": "54.3217"},
                ]
            },
        )

        assert response.status_code == 200, response.json()
        schedule = response.json()
        assert (schedule["value"], schedule["total"]) == (usd("100000.00"), usd("100000.00"))
        assert [(m["name"], m["amount"]["amount"]) for m in schedule["milestones"]] == [
            ("Kick-off", "12345.00"),
            ("Half", "33333.30"),
            ("Rest", "54321.70"),
        ]
        kick_off = schedule["milestones"][0]
        assert (kick_off["external_reference"], kick_off["description"]) == ("PSA-1", "Signed SOW")
        assert editor.get(schedule_url(line)).json() == schedule

    def test_json_numbers_are_read_exactly(self, editor, line):
        response = editor.put(
            schedule_url(line),
            '{"milestones": [{"name": "A", "planned_date": "2026-02-01", "percent": 33.3},'
            ' {"name": "B", "planned_date": "2026-03-01", "percent": 66.7}]}',
            content_type="application/json",
        )
        assert response.status_code == 200, response.json()
        assert [m.percent for m in Milestone.objects.filter(line=line)] == [
            Decimal("33.3"),
            Decimal("66.7"),
        ]

    @pytest.mark.parametrize(
        ("body", "errors"),
        [
            ({}, {"non_field_errors": ["Send either a template or milestones, not both."]}),
            (
                {"template": "Nope", "milestones": []},
                {"template": ["No milestone template has the id or name 'Nope'."]},
            ),
            ({"milestones": []}, {"milestones": ["A schedule needs at least one milestone."]}),
            (
                {"milestones": [{"name": "A", "planned_date": "2026-02-01"}]},
                {"milestones[0]": ["Milestone 1 ('A'): give an amount or a percent, not both."]},
            ),
            (
                {
                    "milestones": [
                        {
                            "name": "A",
                            "planned_date": "2026-02-01",
                            "amount": {"amount": "100000", "currency": "EUR"},
                        }
                    ]
                },
                {"milestones[0]": ["Milestone 1 ('A') is in EUR; this contract is in USD."]},
            ),
            (
                {
                    "milestones": [
                        {"name": "A", "planned_date": "2026-02-01", "amount": usd("99999.995")}
                    ]
                },
                {
                    "milestones[0].amount.amount": [
                        "USD amounts have 2 decimal places; 99999.995 has more."
                    ]
                },
            ),
            (
                {"milestones": [{"name": "A", "planned_date": "2026-02-01", "amount": "100000"}]},
                {"milestones[0].amount": ["Invalid data. Expected a dictionary, but got str."]},
            ),
        ],
    )
    def test_bad_schedules_are_400s_naming_the_field(self, editor, line, body, errors):
        response = self.put(editor, line, body)
        assert response.status_code == 400
        assert response.json()["fields"] == errors
        assert not Milestone.objects.filter(line=line).exists()

    def test_an_inactive_template_is_refused(self, editor, line):
        MilestoneTemplate.objects.filter(name="Implementation 30/40/30").update(active=False)
        response = self.put(editor, line, {"template": "Implementation 30/40/30"})
        assert response.status_code == 400
        assert "inactive" in response.json()["fields"]["template"][0]

    def test_a_subscription_line_has_no_schedule(self, editor, contract_line_factory):
        line = contract_line_factory()
        assert editor.get(schedule_url(line)).status_code == 404
        assert self.put(editor, line, {"template": "Implementation 30/40/30"}).status_code == 404

    @pytest.mark.parametrize(
        ("currency", "value", "template", "amounts"),
        [
            # 10% of 100,001 yen is 10,000.1: whole yen each, the last takes the remainder.
            (
                "JPY",
                "100001",
                "Construction 10/30/30/20/10",
                ["10000", "30000", "30000", "20000", "10001"],
            ),
            # Three-decimal currencies: fils are the minor unit.
            ("KWD", "1000.001", "Implementation 30/40/30", ["300.000", "400.000", "300.001"]),
            ("BHD", "333.333", "Implementation 30/40/30", ["100.000", "133.333", "100.000"]),
        ],
    )
    def test_a_template_spreads_to_the_minor_unit_and_sums_exactly(
        self,
        editor,
        customer_factory,
        contract_factory,
        contract_line_factory,
        currency,
        value,
        template,
        amounts,
    ):
        contract = contract_factory(customer=customer_factory(currency=currency))
        line = contract_line_factory(
            contract=contract, milestone=True, unit_price=Money(value, currency)
        )
        # By id for one, by name for the others: both name a template.
        pk = MilestoneTemplate.objects.get(name=template).pk
        response = self.put(editor, line, {"template": pk if currency == "JPY" else template})

        assert response.status_code == 200, response.json()
        schedule = response.json()
        assert schedule["value"] == schedule["total"] == {"amount": value, "currency": currency}
        assert [m["amount"] for m in schedule["milestones"]] == [
            {"amount": amount, "currency": currency} for amount in amounts
        ]
        stored = [m.amount for m in Milestone.objects.filter(line=line).order_by("sequence")]
        assert sum(stored, Money(0, currency)) == Money(value, currency)
        assert (
            schedule["milestones"][1]["planned_date"]
            == (line.service_start + timedelta(days=60 if currency == "JPY" else 90)).isoformat()
        )

    def test_replacing_keeps_what_was_achieved(self, editor, project, post, psa):
        line = project[0].line
        post(psa, achieve_url(project[0]), {"achieved_on": "2026-03-10"})

        template = self.put(editor, line, {"template": "Implementation 30/40/30"})
        assert template.status_code == 400
        assert "has achieved milestones" in template.json()["fields"]["template"][0]

        response = self.put(
            editor,
            line,
            {"milestones": [{"name": "All the rest", "planned_date": "2026-12-01", "percent": 70}]},
        )
        assert response.status_code == 200, response.json()
        assert [(m["name"], m["status"], m["amount"]) for m in response.json()["milestones"]] == [
            ("Design", "invoiced", usd("30000.00")),
            ("All the rest", "planned", usd("70000.00")),
        ]
        assert response.json()["milestones"][0]["invoice"]["total"] == usd("30000.00")


def test_templates_list_with_their_steps(token_client):
    client = token_client("reader", "view_milestonetemplate")
    response = client.get(TEMPLATES)

    assert response.status_code == 200
    templates = {t["name"]: t for t in response.json()["results"]}
    implementation = templates["Implementation 30/40/30"]
    assert implementation["active"] is True
    assert [(s["name"], s["percent"], s["days_after_start"]) for s in implementation["steps"]] == [
        ("Design sign-off", "30.0000", 0),
        ("Build complete", "40.0000", 90),
        ("Go-live", "30.0000", 180),
    ]
    assert len(templates["Construction 10/30/30/20/10"]["steps"]) == 5


class TestList:
    @pytest.fixture
    def reader(self, token_client) -> APIClient:
        return token_client("auditor", "view_milestone", "view_contract")

    def ids(self, client, **params) -> list[int]:
        response = client.get(MILESTONES, params)
        assert response.status_code == 200, response.json()
        return [m["id"] for m in response.json()["results"]]

    def test_filters(self, reader, project, contract_factory, contract_line_factory):
        design, build, go_live = project
        other = contract_line_factory(
            contract=contract_factory(number="K-OTHER"),
            milestone=True,
            unit_price=Money(10, "USD"),
        )
        elsewhere = Milestone.objects.create(
            line=other,
            sequence=1,
            name="Elsewhere",
            planned_date=date(2026, 4, 1),
            amount=Money(10, "USD"),
            external_reference="PSA-9",
        )
        milestone_achieve(milestone=design, achieved_on=date(2026, 3, 10), achieved_by="pm")
        contract = design.line.contract

        assert self.ids(reader) == [design.pk, elsewhere.pk, build.pk, go_live.pk]
        assert self.ids(reader, contract="K-PSA") == [design.pk, build.pk, go_live.pk]
        assert self.ids(reader, contract=str(contract.pk)) == [design.pk, build.pk, go_live.pk]
        assert self.ids(reader, line=other.pk) == [elsewhere.pk]
        assert self.ids(reader, customer=contract.customer_id) == [design.pk, build.pk, go_live.pk]
        assert self.ids(reader, status="invoiced") == [design.pk]
        assert self.ids(reader, status=["planned", "invoiced"], contract="K-PSA") == [
            design.pk,
            build.pk,
            go_live.pk,
        ]
        # Today is past April and June: those planned milestones are overdue; December is not.
        if timezone.localdate() > date(2026, 6, 1):
            assert self.ids(reader, overdue="true") == [elsewhere.pk, build.pk]
            assert self.ids(reader, overdue="false") == [design.pk, go_live.pk]
        assert self.ids(
            reader, planned_date_after="2026-04-01", planned_date_before="2026-06-01"
        ) == [
            elsewhere.pk,
            build.pk,
        ]
        assert self.ids(reader, external_reference="PSA-9") == [elsewhere.pk]
        assert self.ids(reader, awaiting_approval="true") == []
        assert self.ids(reader, ordering="-planned_date") == [
            go_live.pk,
            build.pk,
            elsewhere.pk,
            design.pk,
        ]
        detail = reader.get(f"{MILESTONES}{build.pk}/").json()
        assert (detail["name"], detail["billing_state"], detail["invoice"]) == (
            "Build",
            "planned",
            None,
        )
        assert reader.get(f"{MILESTONES}999999/").status_code == 404

    def make_milestones(self, count, contract_factory, contract_line_factory, activate):
        """Create ``count`` milestones over contracts of their own customers, half invoiced."""
        made = []
        for n in range(count):
            contract = contract_factory()
            line = contract_line_factory(
                contract=contract, milestone=True, unit_price=Money(1000, "USD")
            )
            made.append(
                Milestone.objects.create(
                    line=line,
                    sequence=1,
                    name=f"M{n}",
                    planned_date=date(2026, 3, 1),
                    amount=Money(1000, "USD"),
                )
            )
            activate(contract)
            if n % 2 == 0:
                milestone_achieve(
                    milestone=made[-1], achieved_on=date(2026, 3, 1), achieved_by="pm"
                )
        return made

    def test_a_page_costs_the_same_queries_for_1_or_30_milestones(
        self,
        reader,
        contract_factory,
        contract_line_factory,
        activate,
        django_assert_max_num_queries,
    ):
        self.make_milestones(1, contract_factory, contract_line_factory, activate)
        with CaptureQueriesContext(connection) as one:
            assert len(reader.get(MILESTONES).json()["results"]) == 1
        made = self.make_milestones(29, contract_factory, contract_line_factory, activate)

        # Token and user, its scopes, its last use, permissions (2), count, page, billing
        # events, invoice lines.
        assert len(one) <= 10
        with django_assert_max_num_queries(len(one)):
            results = reader.get(MILESTONES).json()["results"]

        assert len(results) == 30
        invoiced = [m for m in results if m["invoice"] is not None]
        assert len(invoiced) == 16
        # Each row's invoice is the live one billing that milestone's event, read row by row.
        for milestone, row in zip(
            Milestone.objects.filter(pk__in=[r["id"] for r in results]).order_by(
                "planned_date", "id"
            ),
            results,
            strict=True,
        ):
            invoice = (
                Invoice.objects.filter(lines__event__source_key=f"milestone:{milestone.pk}")
                .exclude(status=Invoice.Status.VOID)
                .first()
            )
            assert row["invoice"] == (
                None if invoice is None else {**row["invoice"], "id": invoice.pk}
            )
        assert len(made) == 29
