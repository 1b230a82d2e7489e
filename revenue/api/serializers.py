"""Output serializers of the revenue API (it only reads), and the ``as_of`` query input."""

from dataclasses import dataclass
from datetime import date

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contracts.models import Contract
from revenue.domain.position import CONTRACT_ASSET, CONTRACT_LIABILITY, NO_POSITION, Position
from revenue.models import (
    JournalEntry,
    JournalLine,
    LedgerAccount,
    PerformanceObligation,
    RevenueScheduleEntry,
)
from revenue.selectors import Rpo
from rms.api import MoneyField, MoneySerializer, money_data


class AsOfQuerySerializer(serializers.Serializer):
    """The date a position is read at; today when absent."""

    as_of = serializers.DateField(
        required=False,
        help_text="ISO 8601 date (YYYY-MM-DD); postings dated up to and including it count. "
        "Defaults to today.",
    )

    def as_of_date(self) -> date:
        """Return the validated date, or today in the project's time zone."""
        return self.validated_data.get("as_of") or timezone.localdate()


@dataclass(frozen=True)
class ContractFigures:
    """A contract with its position and RPO at one date: what a position serializer shows."""

    contract: Contract
    as_of: date
    position: Position
    rpo: Rpo


class CustomerRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    legal_name = serializers.CharField()


class RpoSerializer(serializers.Serializer):
    """Remaining performance obligations: allocated price not yet recognized, by timing."""

    total = MoneyField()
    within_12_months = MoneyField(help_text="Expected to be recognized within 12 months.")
    later = MoneyField(help_text="Expected later, or not yet scheduled.")


class ContractPositionSerializer(serializers.Serializer):
    """A contract's revenue against its billings at ``as_of``, and what remains to recognize."""

    id = serializers.IntegerField(source="contract.pk", help_text="The contract's id.")
    number = serializers.CharField(source="contract.number")
    customer = CustomerRefSerializer(source="contract.customer")
    currency = serializers.CharField(source="contract.currency")
    as_of = serializers.DateField()
    revenue = MoneyField(
        source="position.revenue", help_text="Cumulative revenue recognized through as_of."
    )
    billed = MoneyField(
        source="position.billed", help_text="Cumulative amount invoiced, net of credit notes."
    )
    net = MoneyField(
        source="position.net",
        help_text="revenue - billed: positive is a contract asset, negative a liability.",
    )
    kind = serializers.ChoiceField(
        source="position.kind", choices=[CONTRACT_ASSET, CONTRACT_LIABILITY, NO_POSITION]
    )
    asset = MoneyField(source="position.asset", help_text="Unbilled revenue; zero or positive.")
    liability = MoneyField(
        source="position.liability", help_text="Deferred revenue; zero or positive."
    )
    rpo = RpoSerializer()


class CurrencyTotalsSerializer(serializers.Serializer):
    """The book's figures in one currency; assets and liabilities are reported apart."""

    currency = serializers.CharField()
    revenue = MoneyField()
    billed = MoneyField()
    asset = MoneyField(help_text="Sum of the contracts' assets.")
    liability = MoneyField(help_text="Sum of the contracts' liabilities.")
    net = MoneyField(help_text="asset - liability.")


class BookTotalsSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    currencies = CurrencyTotalsSerializer(many=True)


class RevenueScheduleEntrySerializer(serializers.ModelSerializer):
    contract_number = serializers.CharField(source="contract.number")
    obligation_name = serializers.CharField(source="obligation.name")
    amount = MoneyField()

    class Meta:
        model = RevenueScheduleEntry
        fields = [
            "id",
            "contract",
            "contract_number",
            "obligation",
            "obligation_name",
            "period",
            "amount",
            "status",
            "recognized_on",
            "description",
            "journal_entry",
        ]


class PerformanceObligationSerializer(serializers.ModelSerializer):
    contract_number = serializers.CharField(source="contract.number")
    ssp = MoneyField(help_text="Standalone selling price.")
    fixed_price = MoneyField(help_text="Consideration the obligation's lines charge.")
    allocated = MoneyField(help_text="Transaction price allocated by the latest allocation.")

    class Meta:
        model = PerformanceObligation
        fields = [
            "id",
            "contract",
            "contract_number",
            "sequence",
            "name",
            "pattern",
            "residual",
            "service_start",
            "service_end",
            "ssp",
            "fixed_price",
            "allocated",
            "allocation_method",
        ]


class JournalLineSerializer(serializers.ModelSerializer):
    """One debit or credit; the side not taken is zero."""

    account = serializers.CharField(source="account.code", help_text="The ledger account code.")
    account_role = serializers.ChoiceField(
        source="account.role", choices=LedgerAccount.Role.choices
    )
    debit = serializers.SerializerMethodField()
    credit = serializers.SerializerMethodField()

    class Meta:
        model = JournalLine
        fields = ["id", "account", "account_role", "contract", "debit", "credit"]

    # The line keeps plain decimals beside one currency column (so balances sum in SQL).
    @extend_schema_field(MoneySerializer)
    def get_debit(self, line: JournalLine) -> dict[str, str]:
        return money_data(line.debit, line.currency)

    @extend_schema_field(MoneySerializer)
    def get_credit(self, line: JournalLine) -> dict[str, str]:
        return money_data(line.credit, line.currency)


class JournalEntrySerializer(serializers.ModelSerializer):
    """A balanced posting: its lines' debits equal their credits."""

    contract_number = serializers.CharField(source="contract.number", allow_null=True)
    lines = JournalLineSerializer(many=True)

    class Meta:
        model = JournalEntry
        fields = [
            "id",
            "kind",
            "date",
            "period",
            "currency",
            "description",
            "source_key",
            "invoice",
            "contract",
            "contract_number",
            "lines",
        ]
