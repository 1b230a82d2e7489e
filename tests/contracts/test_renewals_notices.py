"""Renewal notices: the contract's owner is told once per term, ahead of the notice deadline."""

from datetime import date
from decimal import Decimal

import pytest
from django.core import mail
from djmoney.money import Money

from contracts.models import Contract, RenewalNotice, RenewalTerms
from contracts.renewals import contract_renew, renewal_decide
from contracts.tasks import renewal_notices_task
from tests.contracts.factories import ContractFactory, ContractLineFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def notice_settings(settings):
    settings.RMS_RENEWAL_NOTICE_LEAD_DAYS = 30
    settings.RMS_RENEWALS_EMAIL = ""
    settings.RMS_SITE_URL = "https://rms.example.com"


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("olivia", email="olivia@example.com")


def renewable(*, owner=None, notice_days: int = 60, **terms) -> Contract:
    """A 2026 contract of 100.00 a month, ending 31 Dec 2026, with ``notice_days`` of notice."""
    contract = ContractFactory(status=Contract.Status.ACTIVE, finance_owner=owner)
    ContractLineFactory(contract=contract, product=ProductFactory())
    RenewalTerms.objects.create(
        contract=contract,
        notice_days=notice_days,
        uplift_percent=Decimal("3.5"),
        **{"auto_renew": True, **terms},
    )
    return contract


def test_the_notice_goes_to_the_owner_lead_days_before_the_notice_deadline_once(owner):
    contract = renewable(owner=owner)
    # Deadline: 31 Dec - 60 days = 1 Nov; told from 30 days before it, 2 Oct.

    assert renewal_notices_task("2026-10-01") == 0
    assert renewal_notices_task("2026-10-02") == 1
    assert renewal_notices_task("2026-10-02") == 0
    assert renewal_notices_task("2026-10-20") == 0

    [email] = mail.outbox
    assert email.to == ["olivia@example.com"]
    assert email.subject == (
        f"Renewal due: contract {contract.number} ({contract.customer.legal_name}) ends 2026-12-31"
    )
    assert "Notice deadline:  2026-11-01 (60 days' notice)" in email.body
    assert "Annual value:     1,200.00 USD" in email.body  # 100.00 x 12
    assert "12 months at +3.5%" in email.body
    assert "renews automatically on 2026-12-31" in email.body
    assert "https://rms.example.com/admin/contracts/contractrenewal/" in email.body
    [notice] = RenewalNotice.objects.all()
    assert (notice.term_end, notice.recipients) == (date(2026, 12, 31), "olivia@example.com")


def test_without_an_owner_the_renewals_mailbox_hears_else_nobody_and_it_is_retried(settings):
    renewable()

    assert renewal_notices_task("2026-11-01") == 0
    assert not mail.outbox and not RenewalNotice.objects.exists()

    settings.RMS_RENEWALS_EMAIL = "renewals@example.com"
    assert renewal_notices_task("2026-11-02") == 1
    assert mail.outbox[0].to == ["renewals@example.com"]


def test_a_manual_renewal_contract_is_told_to_decide(owner):
    renewable(owner=owner, auto_renew=False)
    renewal_notices_task("2026-11-01")
    assert "does not renew by itself" in mail.outbox[0].body


def test_decided_ended_and_termless_contracts_are_not_told(owner):
    renewal_decide(
        contract=renewable(owner=owner), decision="not_renewing", reason="Lost", by="ann"
    )
    renewal_decide(contract=renewable(owner=owner), decision="renewing", by="ann")
    ContractLineFactory(contract=ContractFactory(status=Contract.Status.ACTIVE))  # no terms

    assert renewal_notices_task("2026-12-01") == 0
    assert renewal_notices_task("2027-01-01") == 0  # ended: past its term


def test_each_renewed_term_gets_its_own_notice(owner, django_capture_on_commit_callbacks):
    contract = renewable(owner=owner)
    renewal_notices_task("2026-10-15")
    with django_capture_on_commit_callbacks(execute=True):
        contract_renew(contract=contract, by="ann")

    assert renewal_notices_task("2027-10-15") == 1

    assert list(RenewalNotice.objects.values_list("term_end", flat=True)) == [
        date(2026, 12, 31),
        date(2027, 12, 31),
    ]
    # The renewed term's price: 100.00 x 1.035 = 103.50 a month, 1,242.00 a year.
    assert contract.lines.get(service_start=date(2027, 1, 1)).unit_price == Money("103.50", "USD")
    assert "Annual value:     1,242.00 USD" in mail.outbox[1].body


def test_a_failed_send_records_nothing_and_the_next_run_sends(owner, monkeypatch):
    renewable(owner=owner)

    def refuse(*args, **kwargs):
        raise OSError("SMTP server down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    with pytest.raises(OSError):
        renewal_notices_task("2026-11-01")
    assert not RenewalNotice.objects.exists()

    monkeypatch.undo()
    assert renewal_notices_task("2026-11-02") == 1
