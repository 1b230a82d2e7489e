"""Bill run API: start a run for a date and follow it to the end.

Starting calls ``billing.runs.bill_run_start``, as ``manage.py run_billing`` and the daily beat
task do: it extends schedules, rates usage, splits the due customers into chunks and queues the
chunks to Celery when the transaction commits. The answer is a 202 with the run as it stands:
with workers its chunks are still running, so progress is read from the chunks themselves (the
run's own totals are written only when its last chunk finishes). A second run for the same date
bills nothing twice: each chunk re-reads what is still due under its customers' locks.
"""

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet, mixins

from billing.api.common import DENIALS, REFUSED, list_responses, read_responses
from billing.models import BillRun, BillRunChunk
from billing.runs import bill_run_start
from rms.api import PagePagination, StableOrderingFilter
from rms.api_permissions import ModelPermissions

TAGS = ["bill runs"]
TRIGGERED_BY_LENGTH = BillRun._meta.get_field("triggered_by").max_length
DONE = Q(chunks__status=BillRunChunk.Status.DONE)


class BillRunErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The failed chunk's position in the run.")
    error = serializers.CharField(help_text="What stopped it; nothing of the chunk was billed.")


class BillRunSerializer(serializers.ModelSerializer):
    """A run with its progress, counted from its chunks so that it moves while workers bill."""

    chunks_done = serializers.IntegerField(
        source="progress_done", read_only=True, help_text="Chunks invoiced so far."
    )
    chunks_failed = serializers.IntegerField(
        source="progress_failed",
        read_only=True,
        help_text="Chunks that gave up (rolled back); their customers are billed by a later run.",
    )
    events_invoiced = serializers.IntegerField(source="progress_events_invoiced", read_only=True)
    events_blocked = serializers.IntegerField(
        source="progress_events_blocked",
        read_only=True,
        help_text="Due events a contract's not-to-exceed cap stopped.",
    )
    invoices_created = serializers.IntegerField(source="progress_invoices_created", read_only=True)
    invoices_issued = serializers.IntegerField(
        source="progress_invoices_issued",
        read_only=True,
        help_text="The others wait as drafts for review.",
    )
    errors = BillRunErrorSerializer(
        many=True, read_only=True, help_text="Failed chunks, once the run has finished."
    )

    class Meta:
        model = BillRun
        fields = [
            "id",
            "as_of",
            "status",
            "triggered_by",
            "started_at",
            "finished_at",
            "chunks_total",
            "chunks_done",
            "chunks_failed",
            "events_invoiced",
            "events_held",
            "events_blocked",
            "invoices_created",
            "invoices_issued",
            "errors",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "events_held": {
                "help_text": "Due events kept back by a billing hold when the run finished."
            }
        }


class BillRunInputSerializer(serializers.Serializer):
    as_of = serializers.DateField(
        required=False,
        help_text="ISO 8601 date: everything due on or before it is billed. Today when absent; "
        "not in the future.",
    )

    def validate_as_of(self, value):
        if value > timezone.localdate():
            raise ValidationError(
                f"{value} is in the future; a run bills what is due by today at the latest."
            )
        return value


def with_progress(runs: QuerySet[BillRun]) -> QuerySet[BillRun]:
    """Count each run's finished chunks and sum what they billed, in the runs' own query."""
    return runs.annotate(
        progress_done=Count("chunks", filter=DONE),
        progress_failed=Count("chunks", filter=Q(chunks__status=BillRunChunk.Status.FAILED)),
        progress_events_invoiced=Sum("chunks__events_invoiced", filter=DONE, default=0),
        progress_events_blocked=Sum("chunks__events_blocked", filter=DONE, default=0),
        progress_invoices_created=Sum("chunks__invoices_created", filter=DONE, default=0),
        progress_invoices_issued=Sum("chunks__invoices_issued", filter=DONE, default=0),
    )


class BillRunFilter(filters.FilterSet):
    as_of = filters.DateFromToRangeFilter(
        help_text="From as_of_after to as_of_before, both included (YYYY-MM-DD)."
    )
    status = filters.MultipleChoiceFilter(choices=BillRun.Status.choices)

    class Meta:
        model = BillRun
        fields = ["status", "as_of"]


@extend_schema(tags=TAGS)
class BillRunViewSet(
    mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, GenericViewSet
):
    """Bill runs (view permission); starting one needs billing.add_billrun."""

    queryset = with_progress(BillRun.objects.all())
    serializer_class = BillRunSerializer
    permission_classes = [ModelPermissions]
    pagination_class = PagePagination
    filter_backends = [filters.DjangoFilterBackend, StableOrderingFilter]
    filterset_class = BillRunFilter
    ordering_fields = ["started_at", "as_of", "id"]
    ordering = ["-started_at", "-id"]

    @extend_schema(
        summary="Bill runs",
        description="Runs of the billing engine, latest first, with their progress and totals.",
        responses=list_responses(BillRunSerializer),
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="A bill run", responses=read_responses(BillRunSerializer, "bill run"))
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Start a bill run",
        description="Invoices every billing event due on or before as_of, as the daily run "
        "and manage.py run_billing do: one invoice per customer and currency, issued unless "
        "the customer reviews drafts. Answers 202 with the run; its chunks go to the Celery "
        "workers, so read the run (Location) until its status is completed or failed. Starting "
        "again for the same date bills only what became due since: nothing is billed twice. "
        "Needs billing.add_billrun.",
        request=BillRunInputSerializer,
        responses={202: BillRunSerializer, 400: REFUSED, **DENIALS},
        examples=[OpenApiExample("1 March", request_only=True, value={"as_of": "2026-03-01"})],
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        body = BillRunInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = bill_run_start(
            as_of=body.validated_data.get("as_of") or timezone.localdate(),
            triggered_by=f"api:{request.user.get_username()}"[:TRIGGERED_BY_LENGTH],
        )
        return Response(
            self.get_serializer(self.get_queryset().get(pk=run.pk)).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": self.reverse_action("detail", args=[run.pk])},
        )
