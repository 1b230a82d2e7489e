"""What comes due, and the invoices that bill it.

A ``BillingEvent`` is the unit that gets invoiced: one subscription period, one one-time item,
one shipment (and, with their issues, one usage charge or milestone). Events are materialized
from contract lines ahead of time, so a user sees a line's upcoming and past billing, and a bill
run moves each due event to invoiced exactly once: the database refuses a second live invoice
line for the same event, whatever the code does.
"""

from decimal import Decimal

from django.db import models
from django.db.models import F, Q, Value
from djmoney.models.fields import CurrencyField, MoneyField
from djmoney.money import Money

from contracts.models import MONEY_DIGITS, Contract, ContractLine, Customer
from rms.audit import AuditTrail


class BillingEvent(models.Model):
    class Kind(models.TextChoices):
        SUBSCRIPTION = "subscription", "Subscription period"
        ONE_TIME = "one_time", "One-time item"
        SHIPMENT = "shipment", "Shipment"
        MILESTONE = "milestone", "Milestone achieved"
        USAGE = "usage", "Usage charge"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        INVOICED = "invoiced", "Invoiced"
        # No longer due (term shortened, contract terminated) but kept: a voided invoice line
        # still names it.
        CANCELLED = "cancelled", "Cancelled"

    # Pending events go with a deleted line; invoiced ones protect it through their invoice line.
    line = models.ForeignKey(ContractLine, on_delete=models.CASCADE, related_name="billing_events")
    # Denormalized from the line so that a run finds due work per customer with one index.
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="billing_events")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="billing_events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source_key = models.CharField(
        max_length=64,
        help_text="What this event bills within its line: a period start, 'order', a shipment.",
    )
    bill_date = models.DateField()
    period_start = models.DateField()
    period_end = models.DateField(help_text="Last day of the period (inclusive).")
    quantity = models.DecimalField(max_digits=19, decimal_places=4)
    unit_price = MoneyField(**MONEY_DIGITS)
    amount = MoneyField(**MONEY_DIGITS)
    description = models.CharField(max_length=255)
    # How a usage charge was reached, tier by tier: [{"description", "quantity", "unit_price",
    # "amount"}], with amounts as decimal strings. Empty for other kinds.
    breakdown = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    blocked_reason = models.CharField(
        max_length=500,
        blank=True,
        help_text="Why a due event was not invoiced (its contract's not-to-exceed cap).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bill_date", "line_id", "period_start"]
        indexes = [models.Index(fields=["status", "bill_date", "customer"])]
        constraints = [
            models.UniqueConstraint(
                fields=["line", "source_key"], name="billing_event_unique_per_line_source"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")),
                name="billing_event_period_in_order",
            ),
            models.CheckConstraint(
                condition=Q(amount_currency=F("unit_price_currency")),
                name="billing_event_one_currency",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract_id}/{self.line_id} {self.description}"


class Shipment(models.Model):
    """Units of a one-time line delivered on a date; each shipment bills what it shipped."""

    line = models.ForeignKey(ContractLine, on_delete=models.PROTECT, related_name="shipments")
    shipped_on = models.DateField()
    quantity = models.DecimalField(max_digits=19, decimal_places=4)
    reference = models.CharField(max_length=128, blank=True, help_text="Delivery note, tracking.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["line", "shipped_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0),
                name="shipment_quantity_positive",
                violation_error_message="A shipment ships more than zero units.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.quantity.normalize():f} units of line {self.line_id} on {self.shipped_on}"


class BillRun(models.Model):
    """One run of the billing engine for an ``as_of`` date: what it found, did and failed at."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    as_of = models.DateField(help_text="Everything due on or before this date is billed.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    triggered_by = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    events_invoiced = models.PositiveIntegerField(default=0)
    events_held = models.PositiveIntegerField(default=0)
    events_blocked = models.PositiveIntegerField(
        default=0, help_text="Due events stopped by a not-to-exceed cap."
    )
    invoices_created = models.PositiveIntegerField(default=0)
    invoices_issued = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Bill run #{self.pk} as of {self.as_of}"


class BillRunChunk(models.Model):
    """A slice of a run's customers, invoiced in one transaction by whichever worker takes it.

    Its status makes a redelivered task harmless: a chunk that is done is not done again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(BillRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    customer_ids = models.JSONField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    events_invoiced = models.PositiveIntegerField(default=0)
    events_blocked = models.PositiveIntegerField(default=0)
    invoices_created = models.PositiveIntegerField(default=0)
    invoices_issued = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="bill_run_chunk_unique_index")
        ]

    def __str__(self) -> str:
        return f"{self.run} chunk {self.index}"


class InvoiceSequence(models.Model):
    """The last number used in a series and year; locked while numbers are taken (gapless)."""

    series = models.CharField(max_length=8)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="invoice_sequence_unique")
        ]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last_number}"


TOTAL_TOLERANCE = Value(Decimal("0.00005"))


class PaymentStatus(models.TextChoices):
    UNPAID = "unpaid", "Unpaid"
    PARTIALLY_PAID = "partially_paid", "Partially paid"
    PAID = "paid", "Paid"


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ISSUED = "issued", "Issued"
        VOID = "void", "Void"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    currency = CurrencyField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    bill_run = models.ForeignKey(
        BillRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="invoices"
    )
    series = models.CharField(max_length=8, default="INV")
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    sequence_number = models.PositiveIntegerField(null=True, blank=True)
    number = models.CharField(max_length=32, blank=True, help_text="Assigned when issued.")
    invoice_date = models.DateField(help_text="The bill run's date; the issue date once issued.")
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    subtotal = MoneyField(**MONEY_DIGITS)
    tax_total = MoneyField(**MONEY_DIGITS)
    total = MoneyField(**MONEY_DIGITS)
    # Frozen at issue, so that a later change to the customer does not rewrite a sent invoice.
    bill_to_name = models.CharField(max_length=255, blank=True)
    bill_to_address = models.TextField(blank=True)
    payment_terms_text = models.CharField(max_length=64, blank=True)
    delivery_held = models.BooleanField(
        default=False, help_text="Issued under a delivery hold: not to be sent until released."
    )
    void_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    # The document as rendered at issue, kept so that every (re)send attaches the same bytes.
    pdf = models.FileField(upload_to="invoices/%Y/", blank=True, editable=False)
    pdf_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="First successful delivery.")
    # Kept in step by the payment and credit note services, under the invoice's row lock.
    payment_status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.UNPAID
    )
    amount_paid = models.DecimalField(max_digits=19, decimal_places=4, default=Decimal(0))
    amount_credited = models.DecimalField(max_digits=19, decimal_places=4, default=Decimal(0))

    history = AuditTrail()

    class Meta:
        ordering = ["-invoice_date", "-id"]
        indexes = [models.Index(fields=["customer", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "year", "sequence_number"],
                condition=Q(sequence_number__isnull=False),
                name="invoice_number_unique_in_series_year",
            ),
            models.CheckConstraint(
                condition=~Q(status="issued")
                | Q(sequence_number__isnull=False, issue_date__isnull=False),
                name="invoice_issued_has_number_and_date",
            ),
            # Within half of the smallest stored unit rather than "=": SQLite keeps decimals
            # as floating point, where 29.99 + 3.00 need not equal 32.99 exactly.
            models.CheckConstraint(
                condition=Q(total__gte=F("subtotal") + F("tax_total") - TOTAL_TOLERANCE)
                & Q(total__lte=F("subtotal") + F("tax_total") + TOTAL_TOLERANCE),
                name="invoice_total_is_subtotal_plus_tax",
            ),
            models.CheckConstraint(
                condition=Q(subtotal_currency=F("currency"))
                & Q(tax_total_currency=F("currency"))
                & Q(total_currency=F("currency")),
                name="invoice_one_currency",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft {self.pk}"

    @property
    def balance_due(self) -> Money:
        """Return what the customer still owes: total less payments and credit notes."""
        return Money(self.total.amount - self.amount_paid - self.amount_credited, self.currency)


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    event = models.ForeignKey(BillingEvent, on_delete=models.PROTECT, related_name="invoice_lines")
    contract_line = models.ForeignKey(
        ContractLine, on_delete=models.PROTECT, related_name="invoice_lines"
    )
    position = models.PositiveIntegerField()
    description = models.CharField(max_length=255)
    period_start = models.DateField()
    period_end = models.DateField()
    quantity = models.DecimalField(max_digits=19, decimal_places=4)
    unit_price = MoneyField(**MONEY_DIGITS)
    amount = MoneyField(**MONEY_DIGITS)
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    tax_amount = MoneyField(**MONEY_DIGITS)
    breakdown = models.JSONField(default=list, blank=True, help_text="Copied from the event.")
    # Copied from the invoice when it is voided, so that the unique constraint below can tell
    # a live billing of an event from a voided one.
    voided = models.BooleanField(default=False)

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["event"],
                condition=Q(voided=False),
                name="invoice_line_bills_event_once",
                violation_error_message="This billing event is already on a live invoice.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice} · {self.description}"


class SellerProfile(models.Model):
    """Who issues the invoices: the identity, remit-to and bank details printed on documents.

    One row, edited by finance in the admin (``SellerProfile.current()`` creates it on first use).
    """

    legal_name = models.CharField(max_length=255, default="Your Company Ltd")
    address = models.TextField(blank=True)
    tax_id = models.CharField("tax ID", max_length=64, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=64, blank=True)
    website = models.CharField(max_length=255, blank=True)
    logo = models.FileField(upload_to="seller/", blank=True, help_text="PNG or SVG.")
    remit_to = models.TextField(
        "remit to / bank details", blank=True, help_text="Printed under 'How to pay'."
    )
    invoice_footer = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.legal_name

    @classmethod
    def current(cls) -> "SellerProfile":
        return cls.objects.get_or_create(pk=1)[0]


class CreditNote(models.Model):
    """A correction of an issued invoice, whole or per line: what the customer no longer owes.

    Numbered in its own gapless series (``CN``) when issued; issued credit notes are history.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ISSUED = "issued", "Issued"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_notes")
    currency = CurrencyField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    series = models.CharField(max_length=8, default="CN")
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    sequence_number = models.PositiveIntegerField(null=True, blank=True)
    number = models.CharField(max_length=32, blank=True)
    issue_date = models.DateField(null=True, blank=True)
    reason = models.CharField(max_length=255)
    subtotal = MoneyField(**MONEY_DIGITS)
    tax_total = MoneyField(**MONEY_DIGITS)
    total = MoneyField(**MONEY_DIGITS)
    pdf = models.FileField(upload_to="credit_notes/%Y/", blank=True, editable=False)
    pdf_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)

    history = AuditTrail()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "year", "sequence_number"],
                condition=Q(sequence_number__isnull=False),
                name="credit_note_number_unique_in_series_year",
            ),
            models.CheckConstraint(
                condition=~Q(status="issued")
                | Q(sequence_number__isnull=False, issue_date__isnull=False),
                name="credit_note_issued_has_number_and_date",
            ),
            models.CheckConstraint(
                condition=Q(total__gte=F("subtotal") + F("tax_total") - TOTAL_TOLERANCE)
                & Q(total__lte=F("subtotal") + F("tax_total") + TOTAL_TOLERANCE),
                name="credit_note_total_is_subtotal_plus_tax",
            ),
            models.CheckConstraint(condition=Q(total__gt=0), name="credit_note_credits_something"),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft credit note {self.pk}"


class CreditNoteLine(models.Model):
    """The part of one invoice line a credit note takes back (a positive amount)."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.ForeignKey(
        InvoiceLine, on_delete=models.PROTECT, related_name="credit_lines"
    )
    position = models.PositiveIntegerField()
    description = models.CharField(max_length=255)
    quantity = models.DecimalField(max_digits=19, decimal_places=4)
    amount = MoneyField(**MONEY_DIGITS)
    tax_amount = MoneyField(**MONEY_DIGITS)

    class Meta:
        ordering = ["credit_note", "position"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(tax_amount__gte=0),
                name="credit_note_line_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.credit_note} · {self.description}"


class DeliveryAttempt(models.Model):
    """One attempt to email a document to the customer's billing contacts.

    Written as ``sending`` before the message goes out, so that a crash mid-send is visible and
    is never silently sent again: only a ``failed`` attempt is retried.
    """

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    credit_note = models.ForeignKey(
        CreditNote, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.SENDING)
    recipients = models.TextField(blank=True)
    trigger = models.CharField(max_length=32, help_text="issue, resend, hold released, retry")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(invoice__isnull=False, credit_note__isnull=True)
                | Q(invoice__isnull=True, credit_note__isnull=False),
                name="delivery_attempt_one_document",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.invoice or self.credit_note}: {self.status} at {self.started_at:%Y-%m-%d %H:%M}"
        )


class Payment(models.Model):
    """Money received from a customer, applied to invoices; what is left is customer credit."""

    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        CARD = "card", "Card"
        CHECK = "check", "Check"
        DIRECT_DEBIT = "direct_debit", "Direct debit"
        CASH = "cash", "Cash"
        OTHER = "other", "Other"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    amount = MoneyField(**MONEY_DIGITS)
    received_on = models.DateField()
    method = models.CharField(max_length=16, choices=Method.choices)
    reference = models.CharField(
        max_length=128, blank=True, help_text="Bank reference; unique per customer when given."
    )
    note = models.CharField(max_length=255, blank=True)
    unapplied = models.DecimalField(
        max_digits=19, decimal_places=4, help_text="Customer credit left from this payment."
    )
    recorded_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = AuditTrail()

    class Meta:
        ordering = ["-received_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "reference"],
                condition=~Q(reference=""),
                name="payment_reference_unique_per_customer",
                violation_error_message="This customer already has a payment with this reference.",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_positive"),
            models.CheckConstraint(
                condition=Q(unapplied__gte=0) & Q(unapplied__lte=F("amount")),
                name="payment_unapplied_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} from {self.customer} on {self.received_on}"


class PaymentApplication(models.Model):
    """The part of a payment that settles one invoice."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="applications")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount = MoneyField(**MONEY_DIGITS)
    applied_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    history = AuditTrail()

    class Meta:
        ordering = ["payment", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_application_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} of {self.payment_id} to {self.invoice}"


RATE_DIGITS = {"max_digits": 19, "decimal_places": 6}


class RatePlan(models.Model):
    """How a usage line's quantity in a billing period becomes a charge (typed, not JSON).

    Amounts are in the contract's currency, per period; rates keep six places so a price such
    as 0.00125 per call is exact. The pure rating lives in ``billing.domain.rating``.
    """

    class Kind(models.TextChoices):
        PER_UNIT = "per_unit", "Per unit"
        VOLUME = "volume", "Volume tiers (whole quantity at the tier it reaches)"
        GRADUATED = "graduated", "Graduated tiers (each unit at its own tier)"
        PACKAGE = "package", "Package (blocks of N, rounded up)"
        OVERAGE = "overage", "Included quantity, then overage"

    line = models.OneToOneField(ContractLine, on_delete=models.CASCADE, related_name="rate_plan")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    unit_price = models.DecimalField(
        **RATE_DIGITS, null=True, blank=True, help_text="Per unit (per unit plans, overage rate)."
    )
    package_size = models.DecimalField(**RATE_DIGITS, null=True, blank=True)
    package_price = models.DecimalField(**RATE_DIGITS, null=True, blank=True)
    included_quantity = models.DecimalField(**RATE_DIGITS, null=True, blank=True)
    base_fee = models.DecimalField(
        **RATE_DIGITS, null=True, blank=True, help_text="Flat fee per period (overage plans)."
    )
    minimum_charge = models.DecimalField(
        **RATE_DIGITS,
        null=True,
        blank=True,
        help_text="Commitment per period: a true-up line tops a lower charge up to it.",
    )
    maximum_charge = models.DecimalField(
        **RATE_DIGITS, null=True, blank=True, help_text="Cap per period."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="per_unit") | Q(unit_price__isnull=False),
                name="rate_plan_per_unit_has_price",
                violation_error_message="A per unit plan needs a unit price.",
            ),
            models.CheckConstraint(
                condition=~Q(kind="package") | Q(package_size__gt=0, package_price__isnull=False),
                name="rate_plan_package_terms",
                violation_error_message="A package plan needs a package size above 0 and a price.",
            ),
            models.CheckConstraint(
                condition=~Q(kind="overage")
                | Q(included_quantity__isnull=False, unit_price__isnull=False),
                name="rate_plan_overage_terms",
                violation_error_message="An overage plan needs an included quantity and a rate.",
            ),
            models.CheckConstraint(
                condition=Q(minimum_charge__isnull=True)
                | Q(maximum_charge__isnull=True)
                | Q(maximum_charge__gte=F("minimum_charge")),
                name="rate_plan_cap_not_below_minimum",
                violation_error_message="The maximum cannot be below the minimum.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line}: {self.get_kind_display()}"


class RateTier(models.Model):
    """One tier of a volume or graduated plan: units above the previous tier, up to ``up_to``."""

    plan = models.ForeignKey(RatePlan, on_delete=models.CASCADE, related_name="tiers")
    sequence = models.PositiveSmallIntegerField()
    up_to = models.DecimalField(
        **RATE_DIGITS, null=True, blank=True, help_text="Inclusive upper bound; empty for the last."
    )
    unit_price = models.DecimalField(**RATE_DIGITS)
    flat_fee = models.DecimalField(**RATE_DIGITS, default=Decimal(0))

    class Meta:
        ordering = ["plan", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "sequence"], name="rate_tier_unique_sequence"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0, flat_fee__gte=0),
                name="rate_tier_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} tier {self.sequence}"


class UsageRecord(models.Model):
    """A quantity consumed at a moment, as the sender metered it; counted once per key.

    ``idempotency_key`` is the sender's and unique per customer: a record sent twice is accepted
    once. ``payload_hash`` tells a retry (same payload) from a key reused for different usage.
    ``billed_event`` is the usage charge that billed it, which is how an invoice line reaches
    its records.
    """

    line = models.ForeignKey(ContractLine, on_delete=models.PROTECT, related_name="usage_records")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="usage_records")
    quantity = models.DecimalField(**RATE_DIGITS)
    occurred_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=128)
    payload_hash = models.CharField(max_length=64)
    attributes = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    billed_event = models.ForeignKey(
        BillingEvent,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="usage_records",
    )

    class Meta:
        ordering = ["line", "occurred_at", "id"]
        indexes = [
            models.Index(fields=["line", "occurred_at"]),
            models.Index(fields=["billed_event"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"], name="usage_record_key_unique_per_customer"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="usage_record_quantity_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity.normalize():f} on line {self.line_id} at {self.occurred_at}"


# --- Contract modifications (issue #8) --------------------------------------------------------


class ModificationCredit(models.Model):
    """What a contract modification credited on one invoice line (``billing.modifications``).

    The follow-up of a modification credits, per invoice line, what the contract's new terms
    leave unused less what earlier modifications already credited there: these rows are that
    ledger, so a follow-up run twice credits once.
    """

    modification = models.ForeignKey(
        "contracts.Modification", on_delete=models.PROTECT, related_name="billing_credits"
    )
    invoice_line = models.ForeignKey(
        InvoiceLine, on_delete=models.PROTECT, related_name="modification_credits"
    )
    credit_note = models.ForeignKey(
        CreditNote, on_delete=models.PROTECT, related_name="modification_credits"
    )
    amount = MoneyField(**MONEY_DIGITS)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["modification", "invoice_line"]
        constraints = [
            models.UniqueConstraint(
                fields=["modification", "invoice_line"],
                name="modification_credit_once_per_invoice_line",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="modification_credit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.modification} credits {self.amount} on {self.invoice_line}"
