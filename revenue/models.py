"""Performance obligations, their allocations and revenue schedules, the periods, and the journal.

What is recognized is append-only: a recognized schedule entry and its journal entry are never
edited; a change of facts posts a new entry (a catch-up) in the open period. Planned entries are
the forecast and are rebuilt whenever the plan changes.
"""

from django.db import models
from django.db.models import F, Q
from djmoney.models.fields import CurrencyField, MoneyField

from contracts.models import MONEY_DIGITS, Contract, ContractLine, RevenuePolicy
from rms.audit import AuditTrail


class LedgerAccount(models.Model):
    """A general-ledger account the journal posts to, one per role, its code set by finance."""

    class Role(models.TextChoices):
        RECEIVABLE = "receivable", "Accounts receivable"
        CONTRACT = "contract", "Contract balance (asset / liability)"
        REVENUE = "revenue", "Revenue"
        TAX = "tax", "Sales tax payable"

    role = models.CharField(max_length=16, choices=Role.choices, unique=True)
    code = models.CharField(max_length=32, unique=True, help_text="The account in your ledger.")
    name = models.CharField(max_length=128)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class PerformanceObligation(models.Model):
    """A distinct promise to the customer (ASC 606 step 2), made of one or more contract lines.

    Each line starts as its own obligation; lines that are not distinct (an activation fee that
    gives no service of its own) are grouped into one. The allocation fields hold the latest
    allocation, denormalized for the selectors; ``ObligationAllocation`` keeps every one with
    its inputs.
    """

    class AllocationMethod(models.TextChoices):
        RELATIVE_SSP = "relative_ssp", "Relative SSP"
        RESIDUAL = "residual", "Residual"
        VARIABLE_OWN = "variable_own", "Own variable consideration"
        EVERGREEN_OWN = "evergreen_own", "Own price (evergreen, period by period)"

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="obligations")
    sequence = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=255)
    pattern = models.CharField("recognition pattern", max_length=20, choices=RevenuePolicy.choices)
    residual = models.BooleanField(
        default=False,
        help_text="Allocate this obligation what is left after the others' SSPs (residual "
        "approach); at most one per contract.",
    )
    service_start = models.DateField()
    service_end = models.DateField(null=True, blank=True)
    ssp = MoneyField("standalone selling price", **MONEY_DIGITS)
    fixed_price = MoneyField(**MONEY_DIGITS, help_text="Consideration the lines charge for it.")
    allocated = MoneyField(**MONEY_DIGITS)
    allocation_method = models.CharField(max_length=16, choices=AllocationMethod.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contract", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "sequence"], name="obligation_unique_sequence"
            ),
            models.UniqueConstraint(
                fields=["contract"],
                condition=Q(residual=True),
                name="obligation_one_residual_per_contract",
                violation_error_message="Only one obligation of a contract can take the residual.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract.number} PO{self.sequence} {self.name}"


class ObligationLine(models.Model):
    """Which obligation a contract line belongs to; a line belongs to exactly one."""

    obligation = models.ForeignKey(
        PerformanceObligation, on_delete=models.CASCADE, related_name="obligation_lines"
    )
    line = models.OneToOneField(
        ContractLine, on_delete=models.CASCADE, related_name="obligation_link"
    )

    def __str__(self) -> str:
        return f"{self.line} in {self.obligation}"


class Allocation(models.Model):
    """One allocation of a contract's transaction price, kept so that it can be explained."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="allocations")
    computed_at = models.DateTimeField(auto_now_add=True)
    method = models.CharField(max_length=16)
    transaction_price = MoneyField(**MONEY_DIGITS)
    reason = models.CharField(max_length=255)

    class Meta:
        ordering = ["contract", "-computed_at", "-id"]
        get_latest_by = ["computed_at", "id"]

    def __str__(self) -> str:
        return f"{self.contract.number} allocation of {self.computed_at:%Y-%m-%d %H:%M}"


class ObligationAllocation(models.Model):
    """One obligation's part of an allocation: its inputs (SSP, price) and the result."""

    allocation = models.ForeignKey(Allocation, on_delete=models.CASCADE, related_name="shares")
    obligation = models.ForeignKey(
        PerformanceObligation, on_delete=models.CASCADE, related_name="allocation_history"
    )
    ssp = MoneyField(**MONEY_DIGITS)
    fixed_price = MoneyField(**MONEY_DIGITS)
    allocated = MoneyField(**MONEY_DIGITS)
    method = models.CharField(max_length=16)
    share = models.CharField(max_length=80, help_text="Exact share of the pool, as n/d.")
    share_percent = models.DecimalField(max_digits=9, decimal_places=4)

    class Meta:
        ordering = ["allocation", "obligation__sequence"]

    def __str__(self) -> str:
        return f"{self.obligation}: {self.allocated}"


class ProgressEntry(models.Model):
    """A measurement of progress on a percent-complete obligation (input method).

    Progress is ``incurred / estimated_total``: cost or hours to date over the current estimate
    of the total. A rising estimate lowers progress and posts a negative catch-up.
    """

    obligation = models.ForeignKey(
        PerformanceObligation, on_delete=models.CASCADE, related_name="progress_entries"
    )
    measured_on = models.DateField()
    incurred = models.DecimalField(max_digits=19, decimal_places=4)
    estimated_total = models.DecimalField(max_digits=19, decimal_places=4)
    note = models.CharField(max_length=255, blank=True)
    recorded_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["obligation", "measured_on"]
        verbose_name_plural = "progress entries"
        constraints = [
            models.UniqueConstraint(
                fields=["obligation", "measured_on"],
                name="progress_one_measurement_per_day",
                violation_error_message="This obligation already has progress for that day.",
            ),
            models.CheckConstraint(
                condition=Q(estimated_total__gt=0)
                & Q(incurred__gte=0)
                & Q(incurred__lte=F("estimated_total")),
                name="progress_between_zero_and_estimate",
                violation_error_message=(
                    "Incurred must be between 0 and the estimated total; raise the estimate "
                    "if the work has outgrown it."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.obligation}: {self.incurred}/{self.estimated_total} on {self.measured_on}"


class RevenuePeriod(models.Model):
    """An accounting month. Closed months take no postings; later changes go to the open one."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    start = models.DateField(unique=True, help_text="First day of the month.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=150, blank=True)

    history = AuditTrail()

    class Meta:
        ordering = ["-start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start__day=1), name="revenue_period_starts_on_first"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m}"


class ContractRevenue(models.Model):
    """A contract's revenue watermark: runs never recognize as of an earlier date than this."""

    contract = models.OneToOneField(
        Contract, on_delete=models.CASCADE, related_name="revenue_state"
    )
    recognized_through = models.DateField()

    def __str__(self) -> str:
        return f"{self.contract_id} recognized through {self.recognized_through}"


class JournalEntry(models.Model):
    """A balanced posting to the general ledger, from an invoice, a void or a recognition."""

    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice issued"
        INVOICE_VOID = "invoice_void", "Invoice voided"
        CREDIT_NOTE = "credit_note", "Credit note issued"
        RECOGNITION = "recognition", "Revenue recognized"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    date = models.DateField(
        help_text="Accounting date; in the first open period if its own period was closed."
    )
    period = models.DateField(help_text="First day of the accounting month posted to.")
    currency = CurrencyField()
    source_key = models.CharField(
        max_length=64, unique=True, help_text="What was posted, so it is never posted twice."
    )
    invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journal_entries",
    )
    credit_note = models.ForeignKey(
        "billing.CreditNote",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journal_entries",
    )
    contract = models.ForeignKey(
        Contract,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journal_entries",
        help_text="Set when the whole entry concerns one contract.",
    )
    description = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name_plural = "journal entries"
        indexes = [models.Index(fields=["period", "kind"])]

    def __str__(self) -> str:
        return f"JE{self.pk} {self.date} {self.description}"


class JournalLine(models.Model):
    """One debit or credit of a journal entry, tagged with the contract it concerns.

    Amounts are plain decimals beside one currency column, so that balances aggregate in SQL
    as numbers; ``date`` and ``kind`` are copied from the entry for the position queries.
    """

    entry = models.ForeignKey(JournalEntry, on_delete=models.CASCADE, related_name="lines")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="lines")
    contract = models.ForeignKey(
        Contract, on_delete=models.PROTECT, null=True, blank=True, related_name="journal_lines"
    )
    date = models.DateField()
    kind = models.CharField(max_length=16, choices=JournalEntry.Kind.choices)
    currency = CurrencyField()
    debit = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    credit = models.DecimalField(max_digits=19, decimal_places=4, default=0)

    class Meta:
        ordering = ["entry", "id"]
        indexes = [models.Index(fields=["contract", "account", "date"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(debit__gte=0, credit__gte=0) & (Q(debit=0) | Q(credit=0)),
                name="journal_line_one_side_not_negative",
            ),
        ]

    def __str__(self) -> str:
        side = f"Dr {self.debit}" if self.debit else f"Cr {self.credit}"
        return f"{self.account.code} {side} {self.currency}"


class RevenueScheduleEntry(models.Model):
    """Revenue of one obligation in one month: planned (forecast) or recognized (posted)."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        RECOGNIZED = "recognized", "Recognized"

    obligation = models.ForeignKey(
        PerformanceObligation, on_delete=models.CASCADE, related_name="schedule"
    )
    contract = models.ForeignKey(
        Contract, on_delete=models.CASCADE, related_name="revenue_schedule"
    )
    period = models.DateField(help_text="First day of the month.")
    amount = MoneyField(**MONEY_DIGITS)
    status = models.CharField(max_length=12, choices=Status.choices)
    recognized_on = models.DateField(null=True, blank=True)
    catch_up = models.BooleanField(
        default=False, help_text="Settles closed months: revenue they earned after closing."
    )
    description = models.CharField(max_length=255, blank=True)
    journal_entry = models.OneToOneField(
        JournalEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="schedule_entry",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["obligation", "period", "id"]
        verbose_name_plural = "revenue schedule entries"
        indexes = [
            models.Index(fields=["contract", "status", "period"]),
            models.Index(fields=["status", "period"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="planned") | Q(recognized_on__isnull=False),
                name="schedule_recognized_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.obligation} {self.period:%Y-%m} {self.amount} ({self.status})"


class RevenueRun(models.Model):
    """One recognition run: its date, whether it closed periods, and what it posted."""

    as_of = models.DateField()
    close_through = models.DateField(null=True, blank=True)
    triggered_by = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    contracts = models.PositiveIntegerField(default=0)
    entries_posted = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text="Contracts that could not be recognized, and why."
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Revenue run #{self.pk} as of {self.as_of}"


# Variable consideration (ASC 606-10-32-5 to 32-14) ---------------------------------------------


class VariableConsideration(models.Model):
    """An uncertain part of a contract's price: a bonus, a penalty, a rebate, usage above a floor.

    Its estimate is re-assessed period by period (``VariableAssessment``) and the constrained
    amount of the assessment that counts enters the transaction price. Tied to one obligation it
    is allocated entirely to it (ASC 606-10-32-40); otherwise it is spread over the contract's
    pooled obligations by relative SSP, like the fixed price. Once the outcome is known the
    actual amount replaces every estimate and the item is closed.
    """

    class Kind(models.TextChoices):
        USAGE_COMMITMENT = "usage_commitment", "Usage beyond the minimum commitment"
        PERFORMANCE_BONUS = "performance_bonus", "Performance bonus"
        PENALTY = "penalty", "Penalty"
        VOLUME_REBATE = "volume_rebate", "Volume rebate"
        OTHER = "other", "Other"

    class Method(models.TextChoices):
        EXPECTED_VALUE = "expected_value", "Expected value"
        MOST_LIKELY = "most_likely", "Most likely amount"

    contract = models.ForeignKey(
        Contract, on_delete=models.PROTECT, related_name="variable_considerations"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.CharField(max_length=255)
    # An obligation removed with its lines leaves the amount to the contract's pool.
    obligation = models.ForeignKey(
        PerformanceObligation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="variable_considerations",
        help_text="Set when the amount relates entirely to one obligation (ASC 606-10-32-40); "
        "left empty, it is spread over the obligations by relative SSP.",
    )
    method = models.CharField(
        "estimation method", max_length=16, choices=Method.choices, default=Method.MOST_LIKELY
    )
    included = MoneyField(
        "in the transaction price",
        **MONEY_DIGITS,
        help_text="What the latest allocation included; compared with the next one to explain it.",
    )
    actual = MoneyField(
        **MONEY_DIGITS, null=True, blank=True, help_text="The outcome, once it is known."
    )
    resolved_period = models.DateField(
        null=True, blank=True, help_text="First day of the month the outcome was entered in."
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolution_note = models.CharField(max_length=255, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = AuditTrail()

    class Meta:
        ordering = ["contract", "id"]
        verbose_name = "variable consideration"
        verbose_name_plural = "variable consideration"
        constraints = [
            models.CheckConstraint(
                condition=(Q(actual__isnull=True) & Q(resolved_period__isnull=True))
                | (Q(actual__isnull=False) & Q(resolved_period__day=1)),
                name="variable_resolved_has_actual_and_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract.number}: {self.get_kind_display()} ({self.description})"

    @property
    def resolved(self) -> bool:
        return self.actual is not None


class VariableAssessment(models.Model):
    """One assessment of a variable amount for an accounting month, kept as history.

    ``scenarios`` are the possible outcomes as ``[{"amount": "12000.00", "probability": "0.6"}]``;
    ``estimate`` is what the item's method makes of them; ``constrained`` is the part included
    in the transaction price (ASC 606-10-32-11), with ``reason`` whenever it differs from the
    estimate. A later assessment of the same month supersedes an earlier one.
    """

    item = models.ForeignKey(
        VariableConsideration, on_delete=models.CASCADE, related_name="assessments"
    )
    period = models.DateField(help_text="First day of the accounting month assessed.")
    method = models.CharField(max_length=16, choices=VariableConsideration.Method.choices)
    scenarios = models.JSONField()
    estimate = MoneyField(**MONEY_DIGITS)
    constrained = MoneyField(
        "included in the price", **MONEY_DIGITS, help_text="The constrained amount."
    )
    reason = models.CharField(max_length=500, blank=True)
    assessed_by = models.CharField(max_length=150, blank=True)
    assessed_at = models.DateTimeField(auto_now_add=True)

    history = AuditTrail()

    class Meta:
        ordering = ["item", "period", "id"]
        get_latest_by = ["period", "id"]
        indexes = [models.Index(fields=["item", "period"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(period__day=1), name="variable_assessment_period_starts_on_first"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item}: {self.constrained} for {self.period:%b %Y}"


# --- Contract modifications (issue #8): revenue's record of each one's treatment ------------


class ModificationTreatment(models.Model):
    """How revenue accounts for one contract modification, recorded when it takes effect.

    A prospective modification freezes, per obligation, what was earned before its effective
    date (``bases``: the amount and the earning curve's steps before the date), so that every
    later allocation hands out only the remaining consideration and every later curve starts
    from that base. A catch-up or separate-contract modification is kept for the explanation
    only. Written once per modification (the signal may come twice) and never edited.
    """

    class Treatment(models.TextChoices):
        SEPARATE_CONTRACT = "separate_contract", "Separate contract"
        PROSPECTIVE = "prospective", "Prospective"
        CATCH_UP = "catch_up", "Cumulative catch-up"

    contract = models.ForeignKey(
        Contract, on_delete=models.CASCADE, related_name="modification_treatments"
    )
    modification_id = models.PositiveBigIntegerField()
    reference = models.CharField(
        max_length=64, blank=True, help_text="The modification's reference, as users know it."
    )
    effective_date = models.DateField()
    treatment = models.CharField(max_length=20, choices=Treatment.choices)
    bases = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per obligation id: revenue earned before the effective date and the curve "
        "steps before it (prospective only).",
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contract", "effective_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "modification_id"], name="modification_treatment_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} effective {self.effective_date:%Y-%m-%d}, {self.treatment}"

    @property
    def label(self) -> str:
        """Return the modification's reference as users know it (M-<id> when it has none)."""
        return self.reference or f"M-{self.modification_id}"


class ObligationSnapshot(models.Model):
    """A contract's obligations as they stood before its last change of terms was synced.

    Contracts announce a modification's new terms before its treatment; by the time the
    treatment arrives the obligations already follow the new lines. A prospective treatment
    needs what each obligation had earned on the *old* terms, so each sync keeps the state it
    replaces here (one row per contract, overwritten), with the lines it was synced to, by
    which the treatment knows the snapshot belongs to the change it accounts for.
    """

    contract = models.OneToOneField(
        Contract, on_delete=models.CASCADE, related_name="obligation_snapshot"
    )
    lines_after = models.CharField(
        max_length=64, help_text="Fingerprint of the lines the change synced the contract to."
    )
    obligations = models.JSONField(default=list)
    taken_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.contract_id} obligations before {self.taken_at:%Y-%m-%d %H:%M}"
