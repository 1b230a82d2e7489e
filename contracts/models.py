"""Customers, the product catalog, payment terms, and contracts with their lines.

Invariants that a row can check on its own are database constraints, so that no entry point
(admin, API, import, shell) can store them broken; rules that span rows (a line's currency is its
contract's) live in ``clean()`` and in the services.
"""

from datetime import date
from decimal import Decimal

import babel
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q, Sum
from djmoney.models.fields import CurrencyField, MoneyField
from djmoney.models.validators import MinMoneyValidator
from djmoney.money import Money

from contracts.domain import payment_terms
from contracts.domain import renewals as renewal_domain
from contracts.domain.payment_terms import TermsBasis
from rms.audit import AuditTrail
from rms.money import money_text, round_money, validate_currency_code

# Prices and rates keep four places so that unit rates such as 0.0035 per API call are exact;
# issued totals are rounded to the currency's minor unit by rms.money.round_money.
MONEY_DIGITS = {"max_digits": 19, "decimal_places": 4}
# Field-level twin of the "not negative" check constraints, so a form names the field at fault.
NOT_NEGATIVE = [MinMoneyValidator(0)]


class BillingModel(models.TextChoices):
    SUBSCRIPTION = "subscription", "Subscription"
    USAGE = "usage", "Usage"
    ONE_TIME = "one_time", "One-time"
    MILESTONE = "milestone", "Milestone"


class RevenuePolicy(models.TextChoices):
    POINT_IN_TIME = "point_in_time", "Point in time"
    RATABLE = "ratable", "Ratable over the service period"
    AS_CONSUMED = "as_consumed", "As consumed"
    MILESTONE = "milestone", "On milestone achievement (output method)"
    PERCENT_COMPLETE = "percent_complete", "Percent complete (input method)"


class BillTiming(models.TextChoices):
    ADVANCE = "advance", "In advance (period start)"
    ARREARS = "arrears", "In arrears (period end)"


class BillDayMode(models.TextChoices):
    ANNIVERSARY = "anniversary", "Anniversary of the service start"
    CALENDAR_DAY = "calendar_day", "Fixed day of the month"


class OneTimeTrigger(models.TextChoices):
    ON_ORDER = "on_order", "On order (before delivery)"
    ON_SHIPMENT = "on_shipment", "On shipment / delivery"


class HoldFlags(models.Model):
    """Billing and delivery holds, shared by customers and contracts.

    A billing hold stops invoices from being created; a delivery hold lets them be created but
    not sent. Nothing due during a hold is lost: the first run after release picks it up.
    """

    billing_hold = models.BooleanField(
        default=False, help_text="Invoices are not created while this is on."
    )
    delivery_hold = models.BooleanField(
        default=False, help_text="Invoices are created but not sent while this is on."
    )
    hold_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        abstract = True

    @property
    def on_hold(self) -> bool:
        return self.billing_hold or self.delivery_hold


class PaymentTerms(models.Model):
    """Terms such as Net 30, due on receipt or end of month + 15, giving an invoice's due date."""

    name = models.CharField(max_length=64, unique=True)
    basis = models.CharField(
        max_length=16,
        choices=[(b.value, b.value.replace("_", " ").capitalize()) for b in TermsBasis],
        default=TermsBasis.NET.value,
    )
    days = models.PositiveSmallIntegerField(default=30)

    class Meta:
        verbose_name_plural = "payment terms"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(basis=TermsBasis.DUE_ON_RECEIPT.value) | Q(days=0),
                name="payment_terms_due_on_receipt_has_no_days",
                violation_error_message="'Due on receipt' terms take 0 days.",
            ),
            models.UniqueConstraint(
                fields=["basis", "days"],
                name="payment_terms_unique_rule",
                violation_error_message="Payment terms with this basis and days already exist.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def due_date(self, issue_date: date) -> date:
        """Return when an invoice issued on ``issue_date`` falls due under these terms."""
        return payment_terms.due_date(
            issue_date=issue_date, basis=TermsBasis(self.basis), days=self.days
        )

    @property
    def description(self) -> str:
        return payment_terms.describe(basis=TermsBasis(self.basis), days=self.days)


TAX_RATE_DIGITS = {"max_digits": 7, "decimal_places": 4}
TAX_RATE_RANGE = [MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))]


class InvoiceTemplate(models.TextChoices):
    STANDARD = "standard", "Standard"
    COMPACT = "compact", "Compact"


def validate_locale(value: str) -> None:
    """Accept a locale Babel knows (en_US, de_DE), so documents can be formatted in it."""
    try:
        babel.Locale.parse(value)
    except (ValueError, babel.UnknownLocaleError) as error:
        raise ValidationError(
            f"{value!r} is not a known locale; use e.g. en_US or de_DE."
        ) from error


class Customer(HoldFlags):
    class DeliveryMethod(models.TextChoices):
        EMAIL = "email", "Email to billing contacts"
        NONE = "none", "None (download only)"

    class InvoiceReview(models.TextChoices):
        DEFAULT = "default", "As the installation is set (RMS_INVOICE_REVIEW)"
        REVIEW = "review", "Created as drafts for review"
        ISSUE = "issue", "Issued straight away"

    number = models.CharField("account number", max_length=32, unique=True)
    legal_name = models.CharField(max_length=255)
    currency = CurrencyField(
        validators=[validate_currency_code],
        help_text="Default currency of this customer's contracts.",
    )
    payment_terms = models.ForeignKey(PaymentTerms, on_delete=models.PROTECT)
    delivery_method = models.CharField(
        max_length=8, choices=DeliveryMethod.choices, default=DeliveryMethod.EMAIL
    )
    invoice_review = models.CharField(
        max_length=8, choices=InvoiceReview.choices, default=InvoiceReview.DEFAULT
    )
    invoice_template = models.CharField(
        max_length=16,
        choices=InvoiceTemplate.choices,
        default=InvoiceTemplate.STANDARD,
        help_text="Layout of this customer's invoices and credit notes.",
    )
    locale = models.CharField(
        max_length=16,
        default="en_US",
        validators=[validate_locale],
        help_text="Formats amounts and dates on documents, e.g. en_US, de_DE, fr_FR, ja_JP.",
    )
    tax_id = models.CharField("tax ID", max_length=64, blank=True)
    tax_rate = models.DecimalField(
        "tax rate (%)",
        **TAX_RATE_DIGITS,
        default=Decimal(0),
        validators=TAX_RATE_RANGE,
        help_text="Charged on every invoice line unless the product sets its own rate.",
    )
    address_line1 = models.CharField(max_length=255, blank=True)
    address_line2 = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=128, blank=True)
    region = models.CharField("state / region", max_length=128, blank=True)
    postal_code = models.CharField(max_length=32, blank=True)
    country = models.CharField(
        max_length=2,
        blank=True,
        validators=[
            RegexValidator(r"^[A-Za-z]{2}$", "Use the two-letter ISO code, e.g. US or DE.")
        ],
        help_text="ISO 3166 two-letter code, e.g. US, DE.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = AuditTrail()

    class Meta:
        ordering = ["legal_name"]
        indexes = [models.Index(fields=["legal_name"])]

    def __str__(self) -> str:
        return f"{self.legal_name} ({self.number})"

    def clean(self) -> None:
        self.country = self.country.upper()

    @property
    def billing_address(self) -> str:
        """Return the address as the lines printed under "Bill to"."""
        locality = " ".join(p for p in (self.postal_code, self.city) if p)
        parts = (self.address_line1, self.address_line2, locality, self.region, self.country)
        return "\n".join(p for p in parts if p)


class BillingContact(models.Model):
    """A person who receives a customer's invoices."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=255, blank=True)
    email = models.EmailField()

    class Meta:
        ordering = ["customer", "email"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "email"],
                name="billing_contact_unique_email_per_customer",
                violation_error_message="This customer already has a contact with this email.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class Product(models.Model):
    """A catalog item: what is sold, its standalone selling price and its revenue policy."""

    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    ssp = MoneyField(
        "standalone selling price",
        **MONEY_DIGITS,
        validators=NOT_NEGATIVE,
        help_text="Price per unit when sold on its own; drives the ASC 606 allocation.",
    )
    unit_of_measure = models.CharField(max_length=32, default="unit")
    tax_rate = models.DecimalField(
        "tax rate (%)",
        **TAX_RATE_DIGITS,
        null=True,
        blank=True,
        validators=TAX_RATE_RANGE,
        help_text="Overrides the customer's rate for this product (e.g. 0 for exempt items).",
    )
    default_billing_model = models.CharField(max_length=16, choices=BillingModel.choices)
    revenue_policy = models.CharField(max_length=20, choices=RevenuePolicy.choices)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ssp__gte=0),
                name="product_ssp_not_negative",
                violation_error_message="The standalone selling price cannot be negative.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.sku} · {self.name}"


class Contract(HoldFlags):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        TERMINATED = "terminated", "Terminated"

    number = models.CharField(max_length=32, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="contracts")
    title = models.CharField(max_length=255, blank=True)
    currency = CurrencyField(validators=[validate_currency_code])
    signed_date = models.DateField(null=True, blank=True, help_text="Booking date.")
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True, help_text="Leave empty for evergreen.")
    evergreen = models.BooleanField(
        default=False, help_text="Runs until terminated; has no end date."
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    terminated_on = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text="First day without service, when a modification terminated the contract early.",
    )
    not_to_exceed = MoneyField(
        "not-to-exceed amount",
        **MONEY_DIGITS,
        validators=NOT_NEGATIVE,
        null=True,
        blank=True,
        help_text="Billing cap: billing past it needs an approved change order.",
    )
    cost_budget = MoneyField(**MONEY_DIGITS, validators=NOT_NEGATIVE, null=True, blank=True)
    finance_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contracts_owned",
        help_text="Approves achieved milestones when approval is required; hears of each.",
    )
    project_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contracts_managed",
        help_text="Marks milestones achieved; hears of each.",
    )
    subscribers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="contracts_followed",
        help_text="Others who asked to hear when a milestone is achieved or invoiced.",
    )
    milestone_approval = models.BooleanField(
        default=False,
        help_text="Achieved milestones wait for a finance approver before they are invoiced.",
    )
    milestones_in_order = models.BooleanField(
        default=False,
        help_text="A milestone can be achieved only after the ones before it in its schedule.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = AuditTrail()

    class Meta:
        ordering = ["-start_date", "number"]
        indexes = [models.Index(fields=["status", "start_date"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="contract_end_not_before_start",
                violation_error_message="The end date cannot be before the start date.",
            ),
            models.CheckConstraint(
                condition=Q(evergreen=True, end_date__isnull=True)
                | Q(evergreen=False, end_date__isnull=False),
                name="contract_has_end_unless_evergreen",
                violation_error_message=(
                    "Give an end date, or mark the contract evergreen (and leave the end empty)."
                ),
            ),
            models.CheckConstraint(
                condition=Q(not_to_exceed__isnull=True)
                | Q(not_to_exceed__gte=0, not_to_exceed_currency=F("currency")),
                name="contract_not_to_exceed_in_currency_and_not_negative",
                violation_error_message=(
                    "The not-to-exceed amount must be in the contract's currency and not negative."
                ),
            ),
            models.CheckConstraint(
                condition=Q(cost_budget__isnull=True)
                | Q(cost_budget__gte=0, cost_budget_currency=F("currency")),
                name="contract_cost_budget_in_currency_and_not_negative",
                violation_error_message=(
                    "The cost budget must be in the contract's currency and not negative."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def clean(self) -> None:
        errors = {}
        for field in ("not_to_exceed", "cost_budget"):
            amount = getattr(self, field)
            if amount is not None and self.currency and amount.currency.code != self.currency:
                errors[field] = (
                    f"This contract is in {self.currency}; enter the amount in {self.currency}, "
                    f"not {amount.currency.code}."
                )
        if errors:
            raise ValidationError(errors)

    @property
    def is_billing_held(self) -> bool:
        """Whether invoices for this contract must not be created (its own or its customer's)."""
        return self.billing_hold or self.customer.billing_hold

    @property
    def is_delivery_held(self) -> bool:
        """Whether invoices for this contract must not be sent (its own or its customer's)."""
        return self.delivery_hold or self.customer.delivery_hold


class ContractLine(models.Model):
    """One product sold on a contract, with the terms its billing model needs.

    The typed terms of each model sit side by side; a line uses those of its own model, and the
    database refuses a line that lacks them.
    """

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="lines")
    sequence = models.PositiveSmallIntegerField(default=1)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lines")
    description = models.CharField(max_length=255, blank=True)
    billing_model = models.CharField(max_length=16, choices=BillingModel.choices)
    quantity = models.DecimalField(max_digits=19, decimal_places=4, default=Decimal(1))
    unit_price = MoneyField(
        **MONEY_DIGITS,
        validators=NOT_NEGATIVE,
        null=True,
        blank=True,
        help_text="Per unit and per billing period; for a milestone line, the project value.",
    )
    service_start = models.DateField(blank=True, help_text="Defaults to the contract start.")
    service_end = models.DateField(
        null=True, blank=True, help_text="Defaults to the contract end; empty when evergreen."
    )
    ssp_override = MoneyField(
        "SSP override",
        **MONEY_DIGITS,
        validators=NOT_NEGATIVE,
        null=True,
        blank=True,
        help_text="Standalone selling price per unit for this line, instead of the product's.",
    )
    revenue_policy_override = models.CharField(
        max_length=20, choices=RevenuePolicy.choices, blank=True
    )

    # Subscription terms.
    interval_months = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
        help_text="Billing period length: 1 monthly, 3 quarterly, 12 annual, or any N.",
    )
    bill_timing = models.CharField(max_length=8, choices=BillTiming.choices, blank=True)
    bill_day_mode = models.CharField(max_length=12, choices=BillDayMode.choices, blank=True)
    bill_day = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text="Day of the month for calendar billing; 29-31 bill on the last day of "
        "shorter months.",
    )

    # One-time terms.
    one_time_trigger = models.CharField(max_length=12, choices=OneTimeTrigger.choices, blank=True)

    # Usage terms (the rate plan itself is billing's: billing.models.RatePlan).
    subscription_key = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        help_text="The key a metering system sends usage under, instead of the line's id.",
    )

    # Set by a contract modification (contracts.modifications): a line whose quantity or price
    # changed mid-term ends the day before, and its successor ``continues`` it from the
    # effective date with the new terms, so periods before the date are never rewritten.
    continues = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="continued_by",
        help_text="The line this one carries on with new terms after a modification.",
    )
    billing_anchor = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text="Billing periods fall as if the service started on this day (a continued or "
        "added line keeps the contract's billing cycle); empty: the service start.",
    )

    # Maintained by billing: bill dates before this day are materialized as billing events.
    scheduled_through = models.DateField(null=True, blank=True, editable=False)

    # The schedule cursor moves on every bill run and says nothing about the terms agreed.
    history = AuditTrail(excluded_fields=["scheduled_through"])

    class Meta:
        ordering = ["contract", "sequence", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "sequence"],
                name="contract_line_unique_sequence",
                violation_error_message="Another line of this contract has this sequence number.",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0),
                name="contract_line_quantity_positive",
                violation_error_message="The quantity must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__isnull=True) | Q(unit_price__gte=0),
                name="contract_line_unit_price_not_negative",
                violation_error_message="The unit price cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(ssp_override__isnull=True) | Q(ssp_override__gte=0),
                name="contract_line_ssp_not_negative",
                violation_error_message="The SSP override cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(service_end__isnull=True) | Q(service_end__gte=F("service_start")),
                name="contract_line_service_end_not_before_start",
                violation_error_message="The service end cannot be before the service start.",
            ),
            models.CheckConstraint(
                condition=~Q(billing_model=BillingModel.SUBSCRIPTION)
                | (
                    Q(unit_price__isnull=False, interval_months__isnull=False)
                    & Q(bill_timing__in=BillTiming.values, bill_day_mode__in=BillDayMode.values)
                ),
                name="contract_line_subscription_terms",
                violation_error_message=(
                    "A subscription line needs a unit price, an interval, a bill timing "
                    "and a bill day rule."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(bill_day_mode=BillDayMode.CALENDAR_DAY) | Q(bill_day__isnull=False),
                name="contract_line_calendar_billing_has_day",
                violation_error_message="Calendar-day billing needs a bill day (1-31).",
            ),
            models.CheckConstraint(
                condition=~Q(billing_model=BillingModel.ONE_TIME)
                | Q(unit_price__isnull=False, one_time_trigger__in=OneTimeTrigger.values),
                name="contract_line_one_time_terms",
                violation_error_message=(
                    "A one-time line needs a unit price and whether it bills on order or shipment."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(billing_model=BillingModel.MILESTONE)
                | Q(unit_price__isnull=False, unit_price__gt=0),
                name="contract_line_milestone_has_value",
                violation_error_message="A milestone line needs a value greater than zero.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract.number} #{self.sequence} {self.product.name}"

    @property
    def currency(self) -> str:
        """Return the line's currency, which is always its contract's."""
        return self.contract.currency

    @property
    def revenue_policy(self) -> str:
        return self.revenue_policy_override or self.product.revenue_policy

    @property
    def ssp(self) -> Money:
        """Return the standalone selling price per unit that applies to this line."""
        return self.ssp_override if self.ssp_override is not None else self.product.ssp

    @property
    def extended_amount(self) -> Money | None:
        """Return quantity x unit price, rounded to the currency (one period for subscriptions)."""
        if self.unit_price is None:
            return None
        return round_money(self.unit_price.amount * self.quantity, self.unit_price.currency)

    def clean(self) -> None:
        """Check the rules that span the line and its contract, and fill defaulted dates.

        Messages name the field a finance user has to change.
        """
        errors: dict[str, str] = {}
        try:
            # On the admin's add page the contract is built but not saved yet: no contract_id.
            contract = self.contract
        except Contract.DoesNotExist:
            contract = None
        if contract is not None and contract.currency:
            self.service_start = self.service_start or contract.start_date
            if self.service_end is None and not contract.evergreen:
                self.service_end = contract.end_date
            errors.update(self._currency_errors(contract.currency))
            errors.update(self._term_errors(contract))
        if self.billing_model == BillingModel.SUBSCRIPTION:
            if self.unit_price is None:
                errors.setdefault("unit_price", "A subscription line needs a unit price.")
            for field in ("interval_months", "bill_timing", "bill_day_mode"):
                if getattr(self, field) in (None, ""):
                    errors.setdefault(field, "Required for a subscription line.")
        if self.bill_day_mode == BillDayMode.CALENDAR_DAY and self.bill_day is None:
            errors["bill_day"] = "Calendar-day billing needs a bill day (1-31)."
        if self.billing_model == BillingModel.ONE_TIME:
            if self.unit_price is None:
                errors.setdefault("unit_price", "A one-time line needs a unit price.")
            if not self.one_time_trigger:
                errors["one_time_trigger"] = "Choose whether this line bills on order or shipment."
        if self.billing_model == BillingModel.MILESTONE and (
            self.unit_price is None or self.unit_price.amount <= 0
        ):
            errors["unit_price"] = "A milestone line needs a value greater than zero."
        if "unit_price" not in errors:
            errors.update(self._milestone_value_errors())
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def with_fixed_milestones(lines: models.QuerySet) -> models.QuerySet:
        """Read with each line the sum ``clean`` holds its value to, in the same query.

        For a bulk check (an import): without it, ``clean`` asks once per stored milestone line.
        """
        fixed = ~Q(milestones__status=Milestone.Status.CANCELLED) & ~Q(
            milestones__status=Milestone.Status.PLANNED, milestones__percent__isnull=False
        )
        return lines.annotate(
            fixed_milestones_total=Sum("milestones__amount", filter=fixed, default=0)
        )

    def _milestone_value_errors(self) -> dict[str, str]:
        """Refuse a value below what the milestone schedule already fixed.

        Planned percent milestones follow a new value; achieved, invoiced and fixed-amount ones
        do not, so the value cannot drop below their sum.
        """
        if self.pk is None or self.billing_model != BillingModel.MILESTONE:
            return {}
        currency = self.unit_price.currency
        if hasattr(self, "fixed_milestones_total"):  # read with the line (with_fixed_milestones)
            total = Money(self.fixed_milestones_total, currency)
        else:
            fixed = self.milestones.exclude(status=Milestone.Status.CANCELLED).exclude(
                status=Milestone.Status.PLANNED, percent__isnull=False
            )
            total = sum((m.amount for m in fixed), Money(0, currency))
        if self.extended_amount < total:
            return {
                "unit_price": f"The milestones already achieved or fixed in amount total "
                f"{money_text(total)}; the line's value cannot be less."
            }
        return {}

    def _currency_errors(self, currency: str) -> dict[str, str]:
        errors = {}
        for field in ("unit_price", "ssp_override"):
            amount = getattr(self, field)
            if amount is not None and amount.currency.code != currency:
                errors[field] = (
                    f"This contract is in {currency}; enter the amount in {currency}, "
                    f"not {amount.currency.code}."
                )
        if (
            self.ssp_override is None
            and self.product_id is not None
            and self.product.ssp.currency.code != currency
        ):
            errors["ssp_override"] = (
                f"The product's SSP is in {self.product.ssp.currency.code} but this contract is "
                f"in {currency}: enter an SSP override in {currency}."
            )
        return errors

    def _term_errors(self, contract: Contract) -> dict[str, str]:
        errors = {}
        if self.service_start and self.service_start < contract.start_date:
            errors["service_start"] = (
                f"The service cannot start before the contract does ({contract.start_date})."
            )
        if contract.end_date and self.service_end and self.service_end > contract.end_date:
            errors["service_end"] = (
                f"The service cannot end after the contract does ({contract.end_date})."
            )
        if (
            self.service_start
            and self.service_end
            and self.service_end < self.service_start
            and "service_end" not in errors
        ):
            errors["service_end"] = "The service end cannot be before the service start."
        return errors


class Milestone(models.Model):
    """An agreed event of a milestone line that, once achieved, bills its amount.

    Achieved and invoiced milestones are history: they are reversed by a credit note, never
    edited. Revenue earns each milestone's share of its obligation's *allocated* price.
    """

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        ACHIEVED = "achieved", "Achieved"
        INVOICED = "invoiced", "Invoiced"
        CANCELLED = "cancelled", "Cancelled"

    line = models.ForeignKey(ContractLine, on_delete=models.CASCADE, related_name="milestones")
    sequence = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    planned_date = models.DateField()
    percent = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="Share of the line's value; leave empty for a fixed amount.",
    )
    amount = MoneyField(**MONEY_DIGITS, validators=NOT_NEGATIVE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    achieved_on = models.DateField(null=True, blank=True)
    achieved_by = models.CharField(max_length=150, blank=True, help_text="User or API client.")
    external_reference = models.CharField(
        max_length=128, blank=True, help_text="The PSA's task id, for example."
    )
    evidence = models.TextField(blank=True)
    approved_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When it was cleared for invoicing: at achievement, or by a finance approver.",
    )
    approved_by = models.CharField(max_length=150, blank=True)

    history = AuditTrail()

    class Meta:
        ordering = ["line", "sequence"]
        permissions = [
            ("achieve_milestone", "Can mark milestones achieved"),
            ("approve_milestone", "Can approve achieved milestones for invoicing"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["line", "sequence"],
                name="milestone_unique_sequence",
                violation_error_message="Another milestone of this line has this sequence.",
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0),
                name="milestone_amount_not_negative",
                violation_error_message="A milestone's amount cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["planned", "cancelled"]) | Q(achieved_on__isnull=False),
                name="milestone_achieved_has_date",
                violation_error_message="An achieved milestone needs its achievement date.",
            ),
            models.CheckConstraint(
                condition=~Q(status="invoiced") | Q(approved_at__isnull=False),
                name="milestone_invoiced_was_approved",
                violation_error_message="A milestone is invoiced only once approved.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line.contract.number} #{self.line.sequence}.{self.sequence} {self.name}"

    @property
    def awaiting_approval(self) -> bool:
        return self.status == self.Status.ACHIEVED and self.approved_at is None

    def clean(self) -> None:
        """Refuse a milestone on a line not billed by milestones, or in another currency."""
        if self.line_id is None:
            return
        if self.line.billing_model != BillingModel.MILESTONE:
            raise ValidationError({"line": "Only milestone lines have milestones."})
        currency = self.line.contract.currency
        if self.amount is not None and self.amount.currency.code != currency:
            raise ValidationError(
                {"amount": f"This contract is in {currency}; enter the amount in {currency}."}
            )


class MilestoneTemplate(models.Model):
    """A milestone policy, e.g. "Implementation 30/40/30": percents applied to a line's value."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MilestoneTemplateStep(models.Model):
    """One milestone of a template: its share of the value and when it is planned."""

    template = models.ForeignKey(MilestoneTemplate, on_delete=models.CASCADE, related_name="steps")
    sequence = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=255)
    percent = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
    )
    days_after_start = models.PositiveIntegerField(
        default=0, help_text="Planned date: this many days after the line's service start."
    )

    class Meta:
        ordering = ["template", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "sequence"],
                name="milestone_template_step_unique_sequence",
                violation_error_message="Another step of this template has this sequence.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template.name}: {self.name} ({self.percent.normalize():f}%)"


class ChangeOrder(models.Model):
    """A change of scope that raises a contract's not-to-exceed cap and/or its cost budget.

    Only an approved change order counts, and the approver cannot be the person who asked for
    it: billing past a cap is a decision two people make, never a silent overrun.
    """

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="change_orders")
    reference = models.CharField(max_length=64)
    reason = models.TextField()
    not_to_exceed_increase = MoneyField(**MONEY_DIGITS, validators=NOT_NEGATIVE)
    cost_budget_increase = MoneyField(
        **MONEY_DIGITS, validators=NOT_NEGATIVE, null=True, blank=True
    )
    requested_by = models.CharField(max_length=150)
    approved_by = models.CharField(max_length=150, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = AuditTrail()

    class Meta:
        ordering = ["contract", "created_at"]
        permissions = [("approve_changeorder", "Can approve change orders")]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "reference"],
                name="change_order_unique_reference",
                violation_error_message="This contract already has a change order with this "
                "reference.",
            ),
            models.CheckConstraint(
                condition=Q(not_to_exceed_increase__gte=0)
                & (Q(cost_budget_increase__isnull=True) | Q(cost_budget_increase__gte=0)),
                name="change_order_increases_not_negative",
                violation_error_message="A change order raises a budget; it cannot lower one.",
            ),
            models.CheckConstraint(
                condition=Q(approved_at__isnull=True) | ~Q(approved_by=F("requested_by")),
                name="change_order_approver_is_not_requester",
                violation_error_message="A change order is approved by someone other than the "
                "person who requested it.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract.number} change order {self.reference}"

    @property
    def approved(self) -> bool:
        return self.approved_at is not None

    def clean(self) -> None:
        """Refuse increases in another currency than the contract's."""
        if self.contract_id is None:
            return
        currency = self.contract.currency
        errors = {
            field: f"This contract is in {currency}; enter the amount in {currency}."
            for field in ("not_to_exceed_increase", "cost_budget_increase")
            if getattr(self, field) is not None and getattr(self, field).currency.code != currency
        }
        if errors:
            raise ValidationError(errors)


# --- Renewals (issue #8) -----------------------------------------------------------------------

UPLIFT_RANGE = [MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))]


class RenewalTerms(models.Model):
    """How a fixed-term contract renews, and the decision taken on its current term.

    A row of its own beside the contract rather than more columns on it: most contracts (projects,
    evergreen subscriptions) never renew, the contract's form, import layout and API stay as they
    are, and the renewal terms keep their own audit trail. A contract without this row does not
    renew by itself; it can still be renewed by hand with the defaults below.
    """

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        RENEWING = "renewing", "Renewing"
        NOT_RENEWING = "not_renewing", "Not renewing"

    contract = models.OneToOneField(
        Contract, on_delete=models.CASCADE, related_name="renewal_terms"
    )
    auto_renew = models.BooleanField(
        default=False, help_text="Renewed automatically on its end date unless marked otherwise."
    )
    term_months = models.PositiveSmallIntegerField(
        "renewal term (months)",
        default=12,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
        help_text="Length of each renewal term: 12 for a yearly renewal.",
    )
    uplift_percent = models.DecimalField(
        "uplift (%)",
        max_digits=7,
        decimal_places=4,
        default=Decimal(0),
        validators=UPLIFT_RANGE,
        help_text="Price increase at each renewal, e.g. 3.5; 0 renews at the same prices.",
    )
    notice_days = models.PositiveSmallIntegerField(
        "notice period (days)",
        default=30,
        validators=[MaxValueValidator(365)],
        help_text="Notice not to renew must be given this many days before the term ends.",
    )
    decision = models.CharField(max_length=12, choices=Decision.choices, default=Decision.PENDING)
    decision_reason = models.TextField(blank=True, help_text="Why the contract is not renewing.")
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    history = AuditTrail()

    class Meta:
        verbose_name_plural = "renewal terms"
        constraints = [
            models.CheckConstraint(
                condition=Q(uplift_percent__gte=0, uplift_percent__lte=100),
                name="renewal_terms_uplift_in_range",
                violation_error_message="The uplift is a percent from 0 to 100.",
            ),
            models.CheckConstraint(
                condition=~Q(decision="not_renewing") | ~Q(decision_reason=""),
                name="renewal_terms_not_renewing_has_reason",
                violation_error_message="Say why the contract is not renewing.",
            ),
        ]

    def __str__(self) -> str:
        return f"Renewal terms of {self.contract_id and self.contract.number}"

    def clean(self) -> None:
        """Refuse renewal terms on an evergreen contract, and a no without its reason."""
        errors = {}
        try:
            contract = self.contract
        except Contract.DoesNotExist:
            contract = None
        if contract is not None and contract.evergreen and self.auto_renew:
            errors["auto_renew"] = (
                "An evergreen contract runs until it is terminated and does not renew; give "
                "it an end date to renew it by terms."
            )
        if self.decision == self.Decision.NOT_RENEWING and not self.decision_reason.strip():
            errors["decision_reason"] = "Say why the contract is not renewing."
        if errors:
            raise ValidationError(errors)

    @property
    def notice_deadline(self) -> date | None:
        """Return the last day notice not to renew can be given for the current term."""
        end = self.contract.end_date
        return None if end is None else renewal_domain.notice_deadline(end, self.notice_days)


class Renewal(models.Model):
    """One renewal of a contract: the term it extended, to when, at what prices, by whom.

    Keyed by the term end it renewed, so renewing the same term twice (two clicks, the daily task
    run twice or at once) records and does it once.
    """

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="renewals")
    from_end = models.DateField(help_text="The end of the term renewed.")
    to_end = models.DateField(help_text="The end of the new term.")
    uplift_percent = models.DecimalField(
        "uplift (%)",
        max_digits=7,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Empty when new prices were entered line by line.",
    )
    prices = models.JSONField(
        default=list,
        help_text="Per renewed line: the line, its successor, the old and new unit price.",
    )
    automatic = models.BooleanField(default=False, help_text="Renewed by the daily task.")
    renewed_by = models.CharField(max_length=150)
    renewed_at = models.DateTimeField()

    class Meta:
        ordering = ["contract", "from_end"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "from_end"],
                name="renewal_unique_term",
                violation_error_message="This term of the contract is already renewed.",
            ),
            models.CheckConstraint(
                condition=Q(to_end__gt=F("from_end")),
                name="renewal_extends_the_term",
                violation_error_message="A renewal ends after the term it renews.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract.number} renewed {self.from_end} → {self.to_end}"


class RenewalNotice(models.Model):
    """The reminder sent to a contract's owner that a term is coming up for renewal: once a term."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="renewal_notices")
    term_end = models.DateField()
    recipients = models.CharField(max_length=1000)
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["contract", "term_end"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "term_end"],
                name="renewal_notice_once_per_term",
                violation_error_message="The notice for this term was already sent.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.contract.number} renewal notice for {self.term_end}"


class ContractRenewal(Contract):
    """The renewal worklist: contracts seen by their coming term end (an admin page of its own).

    A proxy, so the worklist lists contracts themselves; its admin asks for the contract
    permissions (viewing contracts to see it, changing them to renew), not permissions of its own.
    """

    class Meta:
        proxy = True
        verbose_name = "renewal"
        verbose_name_plural = "renewal worklist"
        default_permissions = ()


# --- Contract modifications (issue #8) --------------------------------------------------------


class ModificationTreatment(models.TextChoices):
    """How ASC 606-10-25-12/13 accounts for a modification; the values are the signal's."""

    SEPARATE_CONTRACT = "separate_contract", "Separate contract (distinct goods at SSP)"
    PROSPECTIVE = "prospective", "Prospective (remaining goods distinct)"
    CATCH_UP = "catch_up", "Cumulative catch-up (not distinct)"


class Modification(models.Model):
    """An amendment of an active contract, taking effect on a date.

    A draft is edited freely; applying it (``contracts.modifications.modification_apply``)
    changes the contract's lines from ``effective_date`` and makes it history: an applied
    modification is never edited, a later one amends it.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPLIED = "applied", "Applied"

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="modifications")
    reference = models.CharField(max_length=64, help_text="The amendment's number, e.g. A-2.")
    effective_date = models.DateField(help_text="First day the new terms apply.")
    description = models.TextField(help_text="What was agreed and why.")
    treatment = models.CharField(
        max_length=20,
        choices=ModificationTreatment.choices,
        blank=True,
        help_text="Leave empty to use the proposed treatment.",
    )
    treatment_reason = models.TextField(
        blank=True, help_text="Why the proposed treatment is overridden (required to override)."
    )
    refund_on_termination = models.BooleanField(
        default=False,
        help_text="An early termination credits the unused part of fees billed in advance.",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    separate_contract = models.OneToOneField(
        Contract,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="created_by_modification",
        help_text="The contract created for lines added as a separate contract.",
    )
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_by = models.CharField(max_length=150, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    history = AuditTrail()

    class Meta:
        ordering = ["contract", "effective_date", "id"]
        permissions = [("apply_modification", "Can apply contract modifications")]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "reference"],
                name="modification_unique_reference",
                violation_error_message="This contract already has a modification with this "
                "reference.",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(applied_at__isnull=False) & ~Q(treatment=""),
                name="modification_applied_has_time_and_treatment",
                violation_error_message="An applied modification records when and its treatment.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract.number} modification {self.reference}"

    @property
    def is_applied(self) -> bool:
        return self.status == self.Status.APPLIED


class ModificationChange(models.Model):
    """One change a modification makes: add a line, change a line's quantity or unit price,
    move the term's end, or terminate the whole contract from the effective date.
    """

    class Kind(models.TextChoices):
        ADD_LINE = "add_line", "Add a line"
        CHANGE_QUANTITY = "change_quantity", "Change quantity"
        CHANGE_PRICE = "change_price", "Change unit price"
        CHANGE_TERM = "change_term", "Extend or shorten the term"
        TERMINATE = "terminate", "Terminate early"

    modification = models.ForeignKey(Modification, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    line = models.ForeignKey(
        ContractLine,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="modification_changes",
        help_text="The line whose quantity or price changes.",
    )
    quantity = models.DecimalField(
        max_digits=19, decimal_places=4, null=True, blank=True, help_text="The new quantity."
    )
    unit_price = MoneyField(
        **MONEY_DIGITS, validators=NOT_NEGATIVE, null=True, blank=True, help_text="The new price."
    )
    new_end_date = models.DateField(null=True, blank=True, help_text="The term's new last day.")
    # The terms of an added line, as a contract line takes them.
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True)
    billing_model = models.CharField(max_length=16, choices=BillingModel.choices, blank=True)
    description = models.CharField(max_length=255, blank=True)
    interval_months = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    bill_timing = models.CharField(max_length=8, choices=BillTiming.choices, blank=True)
    bill_day_mode = models.CharField(max_length=12, choices=BillDayMode.choices, blank=True)
    bill_day = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(31)]
    )
    one_time_trigger = models.CharField(max_length=12, choices=OneTimeTrigger.choices, blank=True)
    # Recorded when applied, so that the contract as of an earlier date can be shown.
    previous_end_date = models.DateField(null=True, blank=True, editable=False)
    result_line = models.ForeignKey(
        ContractLine,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="started_by_change",
        help_text="The line applying this change started (an added or continuing line).",
    )

    history = AuditTrail()

    class Meta:
        ordering = ["modification", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__isnull=True) | Q(quantity__gt=0),
                name="modification_change_quantity_positive",
                violation_error_message="The quantity must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__isnull=True) | Q(unit_price__gte=0),
                name="modification_change_price_not_negative",
                violation_error_message="The unit price cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.modification}: {self.get_kind_display()}"
