"""Which ASC 606 treatment a contract modification gets (ASC 606-10-25-12 and 25-13).

Pure: the caller describes each change in plain values and gets back the proposed treatment
and the reason in words a revenue accountant would write in the memo. The user may override
the proposal, giving a reason of their own.
"""

from collections.abc import Sequence
from dataclasses import dataclass

SEPARATE_CONTRACT = "separate_contract"
PROSPECTIVE = "prospective"
CATCH_UP = "catch_up"

# Revenue policies under which one obligation is satisfied over time by progress (a project):
# a change to it alters an obligation partly satisfied, which is not distinct from what was
# already delivered.
PROGRESS_POLICIES = frozenset({"milestone", "percent_complete"})


@dataclass(frozen=True)
class ChangeFacts:
    """What the rule needs to know of one change.

    ``adds_line``: the change adds goods or services. ``at_ssp``: an added line is priced at
    its standalone selling price. ``policies``: the revenue policies of the lines it touches
    (every remaining line, for a term change or a termination).
    """

    adds_line: bool
    at_ssp: bool
    policies: frozenset[str]


def propose_treatment(changes: Sequence[ChangeFacts]) -> tuple[str, str]:
    """Return the proposed treatment of a modification and why.

    - Only added lines, each priced at its SSP: a separate contract (25-12).
    - Otherwise, a change touching a project measured by progress (milestone or percent
      complete) alters one obligation partly satisfied: cumulative catch-up (25-13b).
    - Otherwise the remaining goods are distinct from those delivered (subscription periods,
      separately delivered goods): prospective (25-13a).
    """
    if not changes:
        raise ValueError("A modification without changes has no treatment.")
    if all(change.adds_line and change.at_ssp for change in changes):
        return (
            SEPARATE_CONTRACT,
            "Only distinct goods or services are added, each priced at its standalone selling "
            "price (ASC 606-10-25-12).",
        )
    touched = frozenset().union(*(change.policies for change in changes))
    if touched & PROGRESS_POLICIES:
        return (
            CATCH_UP,
            "The change alters a performance obligation satisfied over time by progress "
            "(milestones or percent complete), which is not distinct from what was already "
            "delivered (ASC 606-10-25-13b).",
        )
    return (
        PROSPECTIVE,
        "The remaining goods or services are distinct from those already delivered "
        "(ASC 606-10-25-13a): the remaining consideration is re-allocated from the effective date.",
    )
