"""Telling a contract's owner that its term is coming up for renewal, once per term.

The notice goes out ``RMS_RENEWAL_NOTICE_LEAD_DAYS`` before the notice deadline (the term end
minus the contract's notice period), so the owner has time to negotiate, renew, or give notice.
Only contracts with renewal terms whose decision is still pending are told: a decided term needs
no reminder. The notice is recorded in the transaction that sends it: a failed send rolls the
record back and the next day's run tries again; a sent one is never sent twice.
"""

import logging
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from contracts.domain.renewals import notice_deadline
from contracts.models import Contract, RenewalNotice, RenewalTerms
from contracts.renewals import annual_value
from rms.money import money_text

logger = logging.getLogger(__name__)


def contracts_to_notify(*, as_of: date) -> list[Contract]:
    """Return the active contracts whose renewal notice is due on ``as_of`` and not yet sent.

    Due from the term's end minus its notice period minus the lead time, until the term ends;
    the notice period varies by contract, so that bound is checked on the few candidates.
    """
    lead = timedelta(days=settings.RMS_RENEWAL_NOTICE_LEAD_DAYS)
    candidates = (
        Contract.objects.filter(
            status=Contract.Status.ACTIVE,
            evergreen=False,
            end_date__gte=as_of,
            end_date__lte=as_of + lead + timedelta(days=365),
            renewal_terms__decision=RenewalTerms.Decision.PENDING,
        )
        .select_related("customer", "finance_owner", "renewal_terms")
        .prefetch_related("lines", "renewal_notices")
        .order_by("end_date", "pk")
    )
    return [
        contract
        for contract in candidates
        if as_of >= notice_deadline(contract.end_date, contract.renewal_terms.notice_days) - lead
        and not any(n.term_end == contract.end_date for n in contract.renewal_notices.all())
    ]


def notice_recipients(contract: Contract) -> list[str]:
    """Return who hears of the renewal: the finance owner, else the renewals mailbox."""
    owner = contract.finance_owner
    if owner is not None and owner.email:
        return [owner.email]
    return [settings.RMS_RENEWALS_EMAIL] if settings.RMS_RENEWALS_EMAIL else []


def worklist_url() -> str:
    """Return the renewal worklist's address, for the link in the notice."""
    return settings.RMS_SITE_URL + reverse("admin:contracts_contractrenewal_changelist")


def renewal_notice_send(*, contract: Contract) -> RenewalNotice | None:
    """Email the notice of the contract's current term once; None when already sent or when
    nobody is there to tell (logged, and tried again on the next run)."""
    recipients = notice_recipients(contract)
    if not recipients:
        logger.warning(
            "Renewal notice of contract %s not sent: no finance owner and no RMS_RENEWALS_EMAIL.",
            contract.number,
        )
        return None
    terms = contract.renewal_terms
    try:
        with transaction.atomic():
            notice = RenewalNotice.objects.create(
                contract=contract,
                term_end=contract.end_date,
                recipients=", ".join(recipients),
                sent_at=timezone.now(),
            )
            context = {
                "contract": contract,
                "terms": terms,
                "uplift": f"{terms.uplift_percent.normalize():f}",
                "deadline": notice_deadline(contract.end_date, terms.notice_days),
                "annual_value": money_text(annual_value(contract, list(contract.lines.all()))),
                "worklist_url": worklist_url(),
                "site_url": settings.RMS_SITE_URL,
            }
            subject = " ".join(
                render_to_string("contracts/email/renewal_notice_subject.txt", context).split()
            )
            body = render_to_string("contracts/email/renewal_notice_body.txt", context)
            EmailMessage(subject=subject, body=body, to=recipients).send()
    except IntegrityError:
        # Another run recorded (and sent) this term's notice first.
        return None
    return notice


def renewal_notices_send(*, as_of: date) -> int:
    """Send every renewal notice due on ``as_of``; return how many were sent."""
    return sum(
        renewal_notice_send(contract=contract) is not None
        for contract in contracts_to_notify(as_of=as_of)
    )
