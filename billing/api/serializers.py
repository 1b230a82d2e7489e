"""Serializers of the usage API: the stored records it lists, the shapes it takes and returns.

Ingestion does not validate through serializers: thousands of records a request are checked by
``billing.usage`` in bulk. The input serializers document the request in the OpenAPI schema.
"""

from rest_framework import serializers

from billing.models import UsageRecord
from billing.usage import RecordResult, UsageStatus

MAX_BATCH = 10_000


class UsageRecordInputSerializer(serializers.Serializer):
    """One usage record; name its line by ``line``, ``subscription_key`` or contract + product."""

    line = serializers.IntegerField(required=False, help_text="The contract line's id.")
    subscription_key = serializers.CharField(
        required=False, help_text="The line's subscription key, instead of its id."
    )
    contract = serializers.CharField(
        required=False, help_text="Contract number; with product, instead of the line's id."
    )
    product = serializers.CharField(required=False, help_text="Product SKU, with contract.")
    quantity = serializers.DecimalField(
        max_digits=19,
        decimal_places=6,
        min_value=0,
        help_text="Not negative, at most six decimals: a decimal string or a JSON number (read "
        "as written, never through a binary float).",
    )
    occurred_at = serializers.DateTimeField(
        help_text="ISO 8601 with a UTC offset; its day in the project's time zone must be in "
        "the line's term."
    )
    idempotency_key = serializers.CharField(
        max_length=128,
        required=False,
        help_text="The sender's key, unique per customer: a record sent again under it is "
        "counted once. Required, here or (single record) in the Idempotency-Key header.",
    )
    attributes = serializers.DictField(
        required=False,
        help_text="Free JSON object kept with the record; fractional numbers are stored as "
        "decimal strings.",
    )


class UsageBatchInputSerializer(serializers.Serializer):
    records = UsageRecordInputSerializer(many=True, max_length=MAX_BATCH)


class UsageRecordResultSerializer(serializers.Serializer):
    """What became of one record of a request."""

    index = serializers.IntegerField(help_text="Position of the record in the request, from 0.")
    status = serializers.ChoiceField(
        choices=[status.value for status in UsageStatus],
        help_text="accepted: stored now; duplicate: stored before under this key, counted once; "
        "conflict: the key already names different usage; rejected: not stored (see reason).",
    )
    id = serializers.IntegerField(
        allow_null=True,
        help_text="The stored record holding the key (none for a rejected record).",
    )
    field = serializers.CharField(
        allow_null=True, help_text="The field at fault, for a conflict or rejection."
    )
    reason = serializers.CharField(help_text="Why a record was rejected or conflicts; else empty.")


class UsageBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    conflict = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = UsageRecordResultSerializer(many=True, help_text="One per record, in order.")


class UsageRecordSerializer(serializers.ModelSerializer):
    contract = serializers.IntegerField(source="line.contract_id")
    contract_number = serializers.CharField(source="line.contract.number")

    class Meta:
        model = UsageRecord
        fields = [
            "id",
            "line",
            "contract",
            "contract_number",
            "customer",
            "quantity",
            "occurred_at",
            "idempotency_key",
            "attributes",
            "received_at",
            "billed_event",
        ]


def result_data(result: RecordResult) -> dict:
    """Return a record's result in the shape of ``UsageRecordResultSerializer``.

    Built directly: a batch answers for up to 10,000 records, and a serializer per result would
    cost more than ingesting them.
    """
    return {
        "index": result.index,
        "status": str(result.status),
        "id": result.record_id,
        "field": result.field,
        "reason": result.reason,
    }
