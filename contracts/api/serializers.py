"""Shapes of customers, products and contracts in the API.

Serializers only check the types of what is sent; the business rules are the models' own
(``full_clean``, applied in ``contracts.api.writes``), so the API refuses exactly what the admin
refuses. Contracts have separate input and output shapes: a line sent in names its product by id
and may carry the id of the line it changes, while a line read back shows its product and the
figures derived from it.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from djmoney.money import Money
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from contracts.models import (
    BillingContact,
    Contract,
    ContractLine,
    Customer,
    PaymentTerms,
    Product,
    RevenuePolicy,
)
from rms.api import MoneyField, MoneySerializer, SlugRelatedField, money_data
from rms.money import validate_currency_code

User = get_user_model()


@extend_schema_field(MoneySerializer)
class MoneyInputField(serializers.Field):
    """Money sent and read back in the API's one shape: ``{"amount": "0.0035", "currency": "USD"}``.

    Prices keep up to four decimal places (a rate of 0.0035 per call is exact); the model checks
    that the currency is the contract's.
    """

    # Doubled braces: DRF formats error messages with str.format.
    default_error_messages = {"invalid": 'Send money as {{"amount": "123.45", "currency": "USD"}}.'}

    def to_representation(self, value: Money) -> dict[str, str]:
        return money_data(value.amount, value.currency.code)

    def to_internal_value(self, data) -> Money:
        if not isinstance(data, dict):
            self.fail("invalid")
        parsed = MoneySerializer(data=data)
        parsed.is_valid(raise_exception=True)
        currency = parsed.validated_data["currency"]
        try:
            validate_currency_code(currency)
        except DjangoValidationError as error:
            raise ValidationError({"currency": error.messages}) from error
        return Money(parsed.validated_data["amount"], currency)


def currency_field(**kwargs) -> serializers.CharField:
    """An ISO 4217 code, as text: a 300-value enum would bury the schema."""
    return serializers.CharField(
        min_length=3, max_length=3, validators=[validate_currency_code], **kwargs
    )


def user_field(**kwargs) -> SlugRelatedField:
    """A user named by username, which is what people and integrations know them by."""
    return SlugRelatedField(slug_field=User.USERNAME_FIELD, queryset=User.objects.all(), **kwargs)


# --- Customers -----------------------------------------------------------------------------


class BillingContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = BillingContact
        fields = ["id", "name", "email"]


class CustomerSerializer(serializers.ModelSerializer):
    """A customer with its billing contacts; holds are changed by the hold action only."""

    currency = currency_field(help_text="Default currency of this customer's contracts.")
    payment_terms = SlugRelatedField(
        slug_field="name",
        queryset=PaymentTerms.objects.all(),
        help_text="Payment terms by name, e.g. Net 30.",
    )
    contacts = BillingContactSerializer(
        many=True,
        required=False,
        help_text="Who receives the invoices. Sent on an update, the list replaces the contacts "
        "(matched by email). Invoices delivered by email need at least one.",
    )
    on_hold = serializers.BooleanField(read_only=True, help_text="A billing or delivery hold.")

    class Meta:
        model = Customer
        fields = [
            "id",
            "number",
            "legal_name",
            "currency",
            "payment_terms",
            "delivery_method",
            "invoice_review",
            "invoice_template",
            "locale",
            "tax_id",
            "tax_rate",
            "address_line1",
            "address_line2",
            "city",
            "region",
            "postal_code",
            "country",
            "contacts",
            "billing_hold",
            "delivery_hold",
            "hold_reason",
            "on_hold",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["billing_hold", "delivery_hold", "hold_reason"]


class HoldInputSerializer(serializers.Serializer):
    """Holds to place (true) or release (false); a hold left out stays as it is."""

    billing = serializers.BooleanField(
        required=False, help_text="Billing hold: no invoices are created while it is on."
    )
    delivery = serializers.BooleanField(
        required=False, help_text="Delivery hold: invoices are created but not sent."
    )
    reason = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text="Why, kept while any hold is on; releasing the last hold clears it.",
    )

    def validate(self, attrs: dict) -> dict:
        if "billing" not in attrs and "delivery" not in attrs:
            raise ValidationError("Say which hold to change: billing, delivery or both.")
        return attrs


# --- Products ------------------------------------------------------------------------------


class ProductSerializer(serializers.ModelSerializer):
    ssp = MoneyInputField(
        help_text="Standalone selling price per unit, up to four decimal places; drives the "
        "ASC 606 allocation."
    )

    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "name",
            "description",
            "ssp",
            "unit_of_measure",
            "tax_rate",
            "default_billing_model",
            "revenue_policy",
            "active",
        ]


# --- Contracts: what is read ---------------------------------------------------------------


class ContractCustomerSerializer(serializers.ModelSerializer):
    """The customer of a contract, enough to recognize it; the customer resource has the rest."""

    class Meta:
        model = Customer
        fields = ["id", "number", "legal_name"]


class LineProductSerializer(serializers.ModelSerializer):
    """The product of a line, enough to recognize it; the product resource has the rest."""

    class Meta:
        model = Product
        fields = ["id", "sku", "name"]


class ContractLineSerializer(serializers.ModelSerializer):
    """A line as stored, with the figures that follow from it and its product."""

    product = LineProductSerializer(read_only=True)
    unit_price = MoneyField(allow_null=True, help_text="Per unit and billing period.")
    extended_amount = MoneyField(
        allow_null=True,
        help_text="Quantity x unit price, rounded to the currency (one period for a "
        "subscription); null without a unit price.",
    )
    ssp_override = MoneyField(allow_null=True)
    ssp = MoneyField(help_text="The SSP per unit that applies: the override, else the product's.")
    revenue_policy = serializers.ChoiceField(
        choices=RevenuePolicy.choices,
        read_only=True,
        help_text="The policy that applies: the override, else the product's.",
    )

    class Meta:
        model = ContractLine
        fields = [
            "id",
            "sequence",
            "product",
            "description",
            "billing_model",
            "quantity",
            "unit_price",
            "extended_amount",
            "service_start",
            "service_end",
            "ssp_override",
            "ssp",
            "revenue_policy_override",
            "revenue_policy",
            "interval_months",
            "bill_timing",
            "bill_day_mode",
            "bill_day",
            "one_time_trigger",
            "subscription_key",
            "scheduled_through",
        ]
        read_only_fields = fields


class ContractSerializer(serializers.ModelSerializer):
    """A contract with its customer and lines, as a page of the list shows it."""

    customer = ContractCustomerSerializer(read_only=True)
    not_to_exceed = MoneyField(allow_null=True)
    cost_budget = MoneyField(allow_null=True)
    finance_owner = SlugRelatedField(
        slug_field=User.USERNAME_FIELD, read_only=True, help_text="Username."
    )
    project_manager = SlugRelatedField(
        slug_field=User.USERNAME_FIELD, read_only=True, help_text="Username."
    )
    subscribers = SlugRelatedField(
        slug_field=User.USERNAME_FIELD, many=True, read_only=True, help_text="Usernames."
    )
    is_billing_held = serializers.BooleanField(
        read_only=True,
        help_text="No invoices are created: a billing hold on the contract or its customer.",
    )
    is_delivery_held = serializers.BooleanField(
        read_only=True,
        help_text="Invoices are not sent: a delivery hold on the contract or its customer.",
    )
    lines = ContractLineSerializer(many=True, read_only=True)

    class Meta:
        model = Contract
        fields = [
            "id",
            "number",
            "customer",
            "title",
            "currency",
            "status",
            "signed_date",
            "start_date",
            "end_date",
            "evergreen",
            "not_to_exceed",
            "cost_budget",
            "finance_owner",
            "project_manager",
            "subscribers",
            "milestone_approval",
            "milestones_in_order",
            "billing_hold",
            "delivery_hold",
            "hold_reason",
            "is_billing_held",
            "is_delivery_held",
            "created_at",
            "updated_at",
            "lines",
        ]
        read_only_fields = fields


# --- Contracts: what is sent ---------------------------------------------------------------


class ContractLineInputSerializer(serializers.ModelSerializer):
    """A line to add (no id) or, on an update, the fields to change of the line with this id."""

    id = serializers.IntegerField(
        required=False,
        help_text="On an update: the line to change. Leave it out to add a line.",
    )
    unit_price = MoneyInputField(
        required=False,
        allow_null=True,
        help_text="Per unit and billing period, in the contract's currency; for a milestone "
        "line, the project value.",
    )
    ssp_override = MoneyInputField(
        required=False,
        allow_null=True,
        help_text="SSP per unit for this line instead of the product's, in the contract's "
        "currency (needed when the product's SSP is in another currency).",
    )

    class Meta:
        model = ContractLine
        fields = [
            "id",
            "sequence",
            "product",
            "description",
            "billing_model",
            "quantity",
            "unit_price",
            "service_start",
            "service_end",
            "ssp_override",
            "revenue_policy_override",
            "interval_months",
            "bill_timing",
            "bill_day_mode",
            "bill_day",
            "one_time_trigger",
            "subscription_key",
        ]
        # Uniqueness (of the sequence within the contract, of the subscription key) is checked
        # with the contract in contracts.api.writes, which knows the line being changed.
        validators = []
        extra_kwargs = {
            "sequence": {"help_text": "Position on the contract; the next free one when absent."},
            "product": {"help_text": "Product id."},
            "billing_model": {
                "required": False,
                "help_text": "Defaults to the product's default billing model.",
            },
            "subscription_key": {"validators": []},
        }

    def validate_subscription_key(self, value: str | None) -> str | None:
        """Store an empty key as none, as the admin does: many lines have no key, not one."""
        return value or None


class ContractInputSerializer(serializers.ModelSerializer):
    """A contract to create with its lines, or the fields (and lines) of one to change."""

    customer = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.all(), help_text="Customer id."
    )
    currency = currency_field(required=False, help_text="Defaults to the customer's currency.")
    not_to_exceed = MoneyInputField(
        required=False,
        allow_null=True,
        help_text="Billing cap in the contract's currency; billing past it needs an approved "
        "change order.",
    )
    cost_budget = MoneyInputField(required=False, allow_null=True)
    finance_owner = user_field(required=False, allow_null=True, help_text="Username.")
    project_manager = user_field(required=False, allow_null=True, help_text="Username.")
    subscribers = user_field(many=True, required=False, help_text="Usernames.")
    lines = ContractLineInputSerializer(
        many=True,
        required=False,
        help_text="On create, the contract's lines. On an update, lines with an id are changed "
        "(only the fields sent), lines without one are added, and lines not sent stay as they "
        "are. Errors name the line by its position here, e.g. lines[1].unit_price.",
    )

    class Meta:
        model = Contract
        fields = [
            "number",
            "customer",
            "title",
            "currency",
            "signed_date",
            "start_date",
            "end_date",
            "evergreen",
            "not_to_exceed",
            "cost_budget",
            "finance_owner",
            "project_manager",
            "subscribers",
            "milestone_approval",
            "milestones_in_order",
            "lines",
        ]
