"""Holds and contract activation, as the admin and later the API and jobs perform them."""

import pytest
from django.core.exceptions import ValidationError

from contracts import services
from contracts.models import Contract
from contracts.services import HoldKind

pytestmark = pytest.mark.django_db


def test_placing_and_releasing_holds_keeps_the_reason_while_any_hold_is_on(contract):
    services.hold_set(target=contract, kind=HoldKind.BILLING, on=True, reason="Disputed invoice")
    services.hold_set(target=contract, kind=HoldKind.DELIVERY, on=True)
    contract.refresh_from_db()
    assert (contract.billing_hold, contract.delivery_hold) == (True, True)
    assert contract.hold_reason == "Disputed invoice"

    services.hold_set(target=contract, kind=HoldKind.BILLING, on=False)
    contract.refresh_from_db()
    assert (contract.billing_hold, contract.delivery_hold) == (False, True)
    assert contract.hold_reason == "Disputed invoice"

    services.hold_set(target=contract, kind=HoldKind.DELIVERY, on=False)
    contract.refresh_from_db()
    assert not contract.on_hold
    assert contract.hold_reason == ""


def test_customer_holds_use_the_same_service(customer):
    services.hold_set(target=customer, kind=HoldKind.DELIVERY, on=True, reason="Bounced email")
    customer.refresh_from_db()
    assert customer.delivery_hold and not customer.billing_hold
    assert customer.hold_reason == "Bounced email"


def test_unknown_hold_kind_is_refused(contract):
    with pytest.raises(ValidationError, match="Unknown hold 'credit_hold'"):
        services.hold_set(target=contract, kind="credit_hold", on=True)


def test_activating_a_draft_with_lines(contract_line_factory):
    contract = contract_line_factory().contract
    assert contract.status == Contract.Status.DRAFT
    services.contract_activate(contract=contract)
    contract.refresh_from_db()
    assert contract.status == Contract.Status.ACTIVE


def test_a_contract_without_lines_stays_a_draft(contract):
    with pytest.raises(ValidationError, match=f"Contract {contract.number} has no lines"):
        services.contract_activate(contract=contract)
    contract.refresh_from_db()
    assert contract.status == Contract.Status.DRAFT


def test_only_a_draft_can_be_activated(contract_line_factory):
    contract = contract_line_factory().contract
    services.contract_activate(contract=contract)
    with pytest.raises(ValidationError, match="is active; only a draft can be activated"):
        services.contract_activate(contract=contract)
