"""The contracts API: contracts with their lines read, created whole, changed, held, activated."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money
from rest_framework.test import APIClient

from billing.models import BillingEvent
from contracts.models import BillingModel, Contract, ContractLine

pytestmark = pytest.mark.django_db

CONTRACTS = "/api/v1/contracts/"
CLERK_PERMISSIONS = ("view_contract", "add_contract", "change_contract")


def url(contract: Contract, step: str = "") -> str:
    return f"{CONTRACTS}{contract.pk}/{step + '/' if step else ''}"


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def fields(response) -> dict:
    assert response.status_code == 400, response.json()
    assert response.json()["type"] == "validation_error"
    return response.json()["fields"]


@pytest.fixture
def clerk(token_client) -> APIClient:
    """A billing clerk: reads, creates and changes contracts."""
    return token_client("clerk", *CLERK_PERMISSIONS)


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    """Send as a request does: committed, so that billing and revenue follow the new terms."""

    def post(client: APIClient, path: str, body: dict | None = None, method: str = "post"):
        with django_capture_on_commit_callbacks(execute=True):
            return getattr(client, method)(path, body or {}, format="json")

    return post


@pytest.fixture
def new_contract(customer, product_factory) -> dict:
    """A subscription with a one-time onboarding fee; both products priced in USD."""
    seats = product_factory(sku="SEATS")
    onboarding = product_factory(sku="ONBOARD", default_billing_model=BillingModel.ONE_TIME)
    return {
        "number": "K-API-1",
        "customer": customer.pk,
        "title": "Seats and onboarding",
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "lines": [
            {
                "product": seats.pk,
                "quantity": "25",
                "unit_price": usd("40.00"),
                "interval_months": 1,
                "bill_timing": "advance",
                "bill_day_mode": "anniversary",
            },
            {
                "product": onboarding.pk,
                "unit_price": usd("5000"),
                "one_time_trigger": "on_order",
            },
        ],
    }


class TestCreate:
    def test_a_contract_with_its_lines_in_one_request(self, clerk, post, new_contract, customer):
        response = post(clerk, CONTRACTS, new_contract)

        assert response.status_code == 201, response.json()
        body = response.json()
        contract = Contract.objects.get(number="K-API-1")
        assert body["id"] == contract.pk
        assert (body["status"], body["currency"]) == ("draft", "USD")  # the customer's currency
        assert body["customer"] == {
            "id": customer.pk,
            "number": customer.number,
            "legal_name": customer.legal_name,
        }
        seats, onboarding = body["lines"]
        assert (seats["sequence"], onboarding["sequence"]) == (1, 2)
        assert seats["product"]["sku"] == "SEATS"
        assert seats["quantity"] == "25.0000"
        assert seats["unit_price"] == usd("40.00")
        assert seats["extended_amount"] == usd("1000.00")
        assert seats["ssp"] == usd("100.00")
        assert seats["revenue_policy"] == "ratable"
        assert (seats["service_start"], seats["service_end"]) == ("2026-01-01", "2026-12-31")
        assert onboarding["billing_model"] == "one_time"  # the product's default
        assert onboarding["unit_price"] == usd("5000.00")

    def test_one_bad_line_refuses_the_whole_contract_naming_the_line(
        self, clerk, post, new_contract
    ):
        new_contract["lines"][1]["unit_price"] = {"amount": "5000", "currency": "EUR"}

        found = fields(post(clerk, CONTRACTS, new_contract))

        assert list(found) == ["lines[1].unit_price"]
        assert "in USD" in found["lines[1].unit_price"][0]
        assert not Contract.objects.exists()
        assert not ContractLine.objects.exists()

    def test_every_fault_is_reported_at_once(self, clerk, post, new_contract):
        new_contract["not_to_exceed"] = {"amount": "1000", "currency": "EUR"}
        new_contract["lines"][0].update(quantity="0", bill_day_mode="calendar_day")
        del new_contract["lines"][1]["one_time_trigger"]

        found = fields(post(clerk, CONTRACTS, new_contract))

        assert set(found) == {
            "not_to_exceed",
            "lines[0].quantity",
            "lines[0].bill_day",
            "lines[1].one_time_trigger",
        }
        assert found["lines[0].quantity"] == ["The quantity must be greater than zero."]

    def test_service_outside_the_term_is_named(self, clerk, post, new_contract):
        new_contract["lines"][0]["service_end"] = "2027-01-31"

        found = fields(post(clerk, CONTRACTS, new_contract))

        assert found == {
            "lines[0].service_end": ["The service cannot end after the contract does (2026-12-31)."]
        }

    def test_type_errors_name_the_line(self, clerk, post, new_contract):
        new_contract["lines"][0]["quantity"] = "many"
        new_contract["lines"][1]["product"] = 999_999
        new_contract["lines"][1]["unit_price"] = {"amount": "1.23456", "currency": "USD"}

        found = fields(post(clerk, CONTRACTS, new_contract))

        assert set(found) == {
            "lines[0].quantity",
            "lines[1].product",
            "lines[1].unit_price.amount",
        }

    def test_sequences_sent_twice_are_refused(self, clerk, post, new_contract):
        for line in new_contract["lines"]:
            line["sequence"] = 7

        found = fields(post(clerk, CONTRACTS, new_contract))

        assert list(found) == ["lines[1].sequence"]

    def test_lines_without_a_subscription_key_do_not_share_an_empty_one(
        self, clerk, post, new_contract
    ):
        for line in new_contract["lines"]:
            line["subscription_key"] = ""

        assert post(clerk, CONTRACTS, new_contract).status_code == 201
        assert set(ContractLine.objects.values_list("subscription_key", flat=True)) == {None}

    def test_a_retry_after_success_does_not_create_a_second_contract(
        self, clerk, post, new_contract
    ):
        assert post(clerk, CONTRACTS, new_contract).status_code == 201

        assert "number" in fields(post(clerk, CONTRACTS, new_contract))
        assert Contract.objects.count() == 1
        assert ContractLine.objects.count() == 2

    def test_people_are_named_by_username(self, clerk, post, new_contract, django_user_model):
        django_user_model.objects.create_user("pm")
        django_user_model.objects.create_user("cfo")
        body = {**new_contract, "project_manager": "pm", "subscribers": ["cfo", "pm"]}

        response = post(clerk, CONTRACTS, body)

        assert response.status_code == 201, response.json()
        assert response.json()["project_manager"] == "pm"
        assert response.json()["finance_owner"] is None
        assert sorted(response.json()["subscribers"]) == ["cfo", "pm"]
        unknown = post(clerk, CONTRACTS, {**body, "number": "K-2", "finance_owner": "nobody"})
        assert "finance_owner" in fields(unknown)

    def test_a_username_with_a_null_character_is_refused_naming_its_field(
        self, clerk, post, new_contract
    ):
        """PostgreSQL text cannot hold NUL: the lookup must not reach the database (was a 500)."""
        response = post(clerk, CONTRACTS, {**new_contract, "subscribers": ["c\x00fo"]})

        assert response.status_code == 400
        assert fields(response) == {"subscribers": ["Null characters are not allowed."]}
        assert Contract.objects.count() == 0


class TestChange:
    @pytest.fixture
    def contract(self, contract_line_factory) -> Contract:
        line = contract_line_factory(contract__number="K-EDIT", sequence=1)
        return line.contract

    def test_fields_sent_change_lines_by_id_and_new_lines_are_added(
        self, clerk, post, contract, product
    ):
        line = contract.lines.get()
        body = {
            "title": "Renewed scope",
            "lines": [
                {"id": line.pk, "quantity": "30"},
                {
                    "product": product.pk,
                    "billing_model": "milestone",
                    "unit_price": usd("12000"),
                },
            ],
        }

        response = post(clerk, url(contract), body, method="patch")

        assert response.status_code == 200, response.json()
        contract.refresh_from_db()
        assert contract.title == "Renewed scope"
        changed, added = contract.lines.order_by("sequence")
        assert (changed.pk, changed.quantity, changed.unit_price) == (
            line.pk,
            Decimal(30),
            Money(100, "USD"),
        )
        assert (added.sequence, added.billing_model) == (2, "milestone")
        assert [row["sequence"] for row in response.json()["lines"]] == [1, 2]

    def test_a_line_of_another_contract_is_refused(
        self, clerk, post, contract, contract_line_factory
    ):
        stranger = contract_line_factory()

        response = post(
            clerk, url(contract), {"lines": [{"id": stranger.pk, "quantity": "2"}]}, "patch"
        )

        assert "lines[0].id" in fields(response)
        stranger.refresh_from_db()
        assert stranger.quantity == 1

    def test_a_new_line_needs_a_product(self, clerk, post, contract):
        response = post(clerk, url(contract), {"lines": [{"quantity": "2"}]}, "patch")

        assert "lines[0].product" in fields(response)

    def test_a_shorter_term_is_checked_against_the_lines_not_sent(self, clerk, post, contract):
        response = post(clerk, url(contract), {"end_date": "2026-06-30"}, "patch")

        [message] = fields(response)["non_field_errors"]
        assert message.startswith("Line 1 service_end: The service cannot end after")
        contract.refresh_from_db()
        assert str(contract.end_date) == "2026-12-31"

    def test_billing_follows_changed_terms(self, clerk, post, contract):
        assert post(clerk, url(contract, "activate")).status_code == 200
        before = BillingEvent.objects.filter(line__contract=contract).count()
        line = contract.lines.get()

        response = post(
            clerk, url(contract), {"lines": [{"id": line.pk, "interval_months": 3}]}, "patch"
        )

        assert response.status_code == 200, response.json()
        assert BillingEvent.objects.filter(line__contract=contract).count() < before

    def test_status_is_not_changed_by_patch(self, clerk, post, contract):
        response = post(clerk, url(contract), {"status": "active"}, "patch")

        assert response.status_code == 200
        contract.refresh_from_db()
        assert contract.status == Contract.Status.DRAFT


class TestActions:
    def test_activate_a_draft_with_lines(self, clerk, post, contract_line_factory):
        contract = contract_line_factory().contract

        response = post(clerk, url(contract, "activate"))

        assert response.status_code == 200, response.json()
        assert response.json()["status"] == "active"
        assert BillingEvent.objects.filter(line__contract=contract).exists()

    def test_a_draft_without_lines_is_not_activated(self, clerk, post, contract):
        response = post(clerk, url(contract, "activate"))

        assert "has no lines" in fields(response)["non_field_errors"][0]

    def test_hold_the_contract(self, clerk, post, contract):
        response = post(clerk, url(contract, "hold"), {"delivery": True, "reason": "Audit"})

        assert response.status_code == 200, response.json()
        body = response.json()
        assert (body["delivery_hold"], body["is_delivery_held"], body["hold_reason"]) == (
            True,
            True,
            "Audit",
        )

    def test_a_customer_hold_shows_on_its_contracts(self, clerk, contract_factory):
        contract = contract_factory(customer__billing_hold=True)

        body = clerk.get(url(contract)).json()

        assert (body["billing_hold"], body["is_billing_held"]) == (False, True)


class TestList:
    def test_filters_and_ordering(self, clerk, contract_factory, contract_line_factory, product):
        first = contract_factory(number="K-1", status=Contract.Status.ACTIVE)
        contract_factory(number="K-2", start_date="2026-03-01", currency="EUR")
        contract_line_factory(contract=first, product=product)

        def numbers(query: str) -> list[str]:
            response = clerk.get(f"{CONTRACTS}?{query}")
            assert response.status_code == 200, response.json()
            return [row["number"] for row in response.json()["results"]]

        assert numbers("") == ["K-2", "K-1"]  # latest start first
        assert numbers("ordering=number") == ["K-1", "K-2"]
        assert numbers("status=active") == ["K-1"]
        assert numbers("status=active&status=draft") == ["K-2", "K-1"]
        assert numbers(f"customer={first.customer_id}") == ["K-1"]
        assert numbers(f"customer_number={first.customer.number}") == ["K-1"]
        assert numbers("currency=EUR") == ["K-2"]
        assert numbers("start_date_after=2026-02-01") == ["K-2"]
        assert numbers("end_date_before=2026-12-31") == ["K-2", "K-1"]
        assert numbers(f"product={product.pk}") == ["K-1"]
        assert numbers("billing_model=subscription") == ["K-1"]
        assert numbers("number=K-2") == ["K-2"]

    def test_an_unknown_customer_filter_is_a_400(self, clerk):
        assert "customer" in fields(clerk.get(f"{CONTRACTS}?customer=999999"))

    def test_a_page_costs_the_same_queries_for_one_contract_or_thirty(
        self, clerk, contract_factory, contract_line_factory, django_user_model
    ):
        pm = django_user_model.objects.create_user("pm")

        def add_contract() -> None:
            contract = contract_factory(project_manager=pm, finance_owner=pm)
            contract.subscribers.add(pm)
            contract_line_factory.create_batch(3, contract=contract)

        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                response = clerk.get(CONTRACTS)
            assert response.status_code == 200
            return len(captured)

        add_contract()
        queries()  # The token's first use of the day records it: one write, once.
        one = queries()
        for _ in range(29):
            add_contract()

        assert queries() == one
        assert len(clerk.get(CONTRACTS).json()["results"]) == 30


class TestPermissions:
    @pytest.mark.parametrize(
        ("codenames", "allowed"),
        [
            ((), False),
            (("view_contract",), True),
        ],
    )
    def test_reading_needs_the_view_permission(self, token_client, contract, codenames, allowed):
        client = token_client("caller", *codenames)

        assert client.get(CONTRACTS).status_code == (200 if allowed else 403)
        assert client.get(url(contract)).status_code == (200 if allowed else 403)

    @pytest.mark.parametrize(
        ("codenames", "allowed"),
        [(("view_contract",), False), (("view_contract", "add_contract"), True)],
    )
    def test_creating_needs_the_add_permission(
        self, token_client, post, new_contract, codenames, allowed
    ):
        response = post(token_client("caller", *codenames), CONTRACTS, new_contract)

        assert response.status_code == (201 if allowed else 403)
        assert Contract.objects.exists() == allowed

    @pytest.mark.parametrize("step", ["", "activate", "hold"])
    @pytest.mark.parametrize(
        ("codenames", "allowed"),
        [
            (("view_contract", "add_contract"), False),
            (("view_contract", "change_contract"), True),
        ],
    )
    def test_changing_needs_the_change_permission(
        self, token_client, post, contract_line_factory, step, codenames, allowed
    ):
        contract = contract_line_factory().contract
        client = token_client("caller", *codenames)
        body = {"billing": True} if step == "hold" else {}

        response = post(client, url(contract, step), body, "post" if step else "patch")

        assert response.status_code == (200 if allowed else 403), response.json()
        if not allowed:
            assert response.json()["type"] == "permission_denied"

    def test_anonymous_callers_are_refused(self, contract):
        assert APIClient().get(CONTRACTS).status_code == 401


@pytest.mark.parametrize("value", [str(10**30), "1.5", "-1"])
def test_an_id_filter_beyond_what_the_database_holds_is_a_400(clerk, value):
    response = clerk.get(CONTRACTS, {"product": value})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["product"]
