"""Telling the people who follow a contract that one of its milestones moved.

The contract's finance owner, project manager and subscribers get one plain email per event
(achieved, approved), saying what happens next: invoiced (with the number), waiting for
approval, kept back by a billing hold, or stopped by the not-to-exceed cap.
"""

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils.translation import to_locale

from billing.milestone_billing import milestones_billing
from contracts.models import Milestone


def milestone_followers(milestone: Milestone) -> list[str]:
    """Return the email addresses of the contract's followers, each once, in a stable order."""
    contract = milestone.line.contract
    people = [contract.finance_owner, contract.project_manager, *contract.subscribers.all()]
    return sorted({person.email for person in people if person is not None and person.email})


def milestone_notify(*, milestone_id: int, what: str) -> int:
    """Email the followers of a milestone's contract that it was ``what`` (achieved, approved).

    Returns the number of recipients (0 when nobody follows the contract).
    """
    milestone = Milestone.objects.select_related(
        "line__contract__customer",
        "line__contract__finance_owner",
        "line__contract__project_manager",
    ).get(pk=milestone_id)
    recipients = milestone_followers(milestone)
    if not recipients:
        return 0
    billing = milestones_billing([milestone])[milestone.pk]
    context = {
        "milestone": milestone,
        "contract": milestone.line.contract,
        "what": what,
        "outcome": billing.state,
        "invoice": billing.invoice,
        "reason": billing.reason,
        "site_url": settings.RMS_SITE_URL,
        # Staff emails speak the back office's language (invoices speak the customer's).
        "locale": to_locale(settings.LANGUAGE_CODE),
    }
    subject = " ".join(render_to_string("billing/email/milestone_subject.txt", context).split())
    body = render_to_string("billing/email/milestone_body.txt", context)
    EmailMessage(subject=subject, body=body, to=recipients).send()
    return len(recipients)
