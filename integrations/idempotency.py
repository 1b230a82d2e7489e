"""``Idempotency-Key`` on every API write: a retried request gets the first one's response.

A client that lost a response (a timeout, a dropped connection) cannot know whether its create
happened; sending it again with the same key is safe: the first response is returned, marked
``Idempotent-Replayed: true``, and nothing is created twice. Keys belong to their caller (user
or token), are kept ``RMS_IDEMPOTENCY_DAYS`` days, and bind to the request: the same key with
another body is refused. While the first request runs, a retry is told to wait (409). Only
successes are kept: a refused or failed request changed nothing, so its retry runs afresh.

A middleware rather than a mixin on each view, so that every create, present and future, has it.
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from integrations.authentication import ApiTokenAuthentication
from integrations.models import IdempotencyKey

HEADER = "Idempotency-Key"
METHODS = {"POST", "PATCH"}
MAX_KEY = 255
# Longer than any API request runs: a key still unanswered after this was abandoned.
ABANDONED_AFTER = timedelta(minutes=10)


def _error(status: int, kind: str, message: str) -> JsonResponse:
    return JsonResponse(
        {"type": kind, "detail": message, "fields": {HEADER: [message]}}, status=status
    )


def _owner(request: HttpRequest) -> str | None:
    """Name the caller without running the view: the token's owner, or the logged-in user."""
    try:
        found = ApiTokenAuthentication().authenticate(Request(request))
    except AuthenticationFailed:
        return None
    if found is not None:
        return f"token:{found[1].pk}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request.body)
    return digest.hexdigest()


def _replay(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(
        bytes(record.body), status=record.status_code, content_type=record.content_type
    )
    response["Idempotent-Replayed"] = "true"
    return response


def _unfinished(record: IdempotencyKey) -> str:
    """Say why a key's first request has no answer yet, and what the client should do.

    Past ``ABANDONED_AFTER`` the server stopped while running it (a crash, a deploy): whether it
    took effect is unknown here, so running it again could do it twice; the client checks and
    sends it again under a new key.
    """
    if timezone.now() - record.created_at < ABANDONED_AFTER:
        return f"A request with key {record.key!r} is still being processed; retry shortly."
    return (
        f"The request with key {record.key!r} started at {record.created_at:%Y-%m-%d %H:%M} UTC "
        "and never answered: check whether it took effect, then send it again with a new key."
    )


def idempotency_keys_purge() -> int:
    """Delete keys older than ``RMS_IDEMPOTENCY_DAYS``; return how many went."""
    cutoff = timezone.now() - timedelta(days=settings.RMS_IDEMPOTENCY_DAYS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


class IdempotencyMiddleware:
    """Replay the stored response of an API write sent again with the same key."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get(HEADER)
        if key is None or request.method not in METHODS or not request.path.startswith("/api/"):
            return self.get_response(request)
        if not key.strip() or len(key) > MAX_KEY:
            return _error(400, "validation_error", f"Send 1 to {MAX_KEY} characters.")
        owner = _owner(request)
        if owner is None:
            # Unauthenticated: the view refuses it with the usual 401; nothing to remember.
            return self.get_response(request)
        try:
            fingerprint = _fingerprint(request)
        except RequestDataTooBig:
            return _error(
                413,
                "request_too_large",
                f"A request with {HEADER} may have at most "
                f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes; send smaller batches.",
            )
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    owner=owner,
                    key=key,
                    method=request.method,
                    path=request.path,
                    fingerprint=fingerprint,
                )
        except IntegrityError:
            return self._earlier(owner, key, fingerprint)
        response = self.get_response(request)
        self._keep(record, response)
        return response

    def _earlier(self, owner: str, key: str, fingerprint: str) -> HttpResponse:
        record = IdempotencyKey.objects.get(owner=owner, key=key)
        if record.fingerprint != fingerprint:
            return _error(
                422,
                "idempotency_error",
                f"Key {key!r} was used for {record.method} {record.path} with another body; "
                "use a new key for a new request.",
            )
        if record.status_code is None:
            return _error(409, "idempotency_error", _unfinished(record))
        return _replay(record)

    def _keep(self, record: IdempotencyKey, response: HttpResponse) -> None:
        """Store a success to replay; forget a refusal or a failure, which changed nothing."""
        if not 200 <= response.status_code < 300 or response.streaming:
            record.delete()
            return
        IdempotencyKey.objects.filter(pk=record.pk).update(
            status_code=response.status_code,
            content_type=response.get("Content-Type", ""),
            body=response.content,
        )
