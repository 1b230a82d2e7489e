"""The API's one error shape: a type, a sentence for people, and messages by field.

Every refusal looks the same whichever view raised it, so an integration needs one error path::

    {"type": "validation_error",
     "detail": "lines[1].quantity: Ensure this value is greater than or equal to 0.",
     "fields": {"lines[1].quantity": ["Ensure this value is greater than or equal to 0."]}}

``fields`` names each field at fault by its path in the request body (nested objects with
dots, list items with their index); errors not tied to a field are under ``"non_field_errors"``
and start ``detail``. Services raise Django's ``ValidationError``; it is shaped here too, so a
view can call a service without translating its refusals.
"""

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY

TYPES = {
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "parse_error",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def _child(path: str, key) -> str:
    """Name a nested field: ``lines.unit_price`` under an object, ``lines[1]`` in a list."""
    # Django's own key ("__all__") too: a model's full_clean reports whole-row errors under it.
    if key in (NON_FIELD, NON_FIELD_ERRORS):
        return path or NON_FIELD
    if str(key).isdigit():
        # DRF reports a list field's bad items as a dict keyed by index.
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def field_messages(detail, path: str = "") -> dict[str, list[str]]:
    """Flatten DRF's nested error detail into ``{"lines[1].quantity": [message, ...]}``."""
    if isinstance(detail, dict):
        found: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = _child(path, key)
            for field, messages in field_messages(value, name).items():
                found.setdefault(field, []).extend(messages)
        return found
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {path or NON_FIELD: [str(item) for item in detail]} if detail else {}
        found = {}
        for index, item in enumerate(detail):
            for field, messages in field_messages(item, f"{path}[{index}]").items():
                found.setdefault(field, []).extend(messages)
        return found
    return {path or NON_FIELD: [str(detail)]}


def _summary(fields: dict[str, list[str]]) -> str:
    """One sentence for a log or a person: the first message, naming its field."""
    field, messages = next(iter(fields.items()))
    return messages[0] if field == NON_FIELD else f"{field}: {messages[0]}"


def api_exception_handler(error, context):
    """Shape every API error as ``{"type", "detail", "fields"}``; let DRF pick the status."""
    if isinstance(error, DjangoValidationError):
        error = exceptions.ValidationError(as_serializer_error(error))
    response = exception_handler(error, context)
    if response is None:
        return None
    kind = next(
        (name for cls, name in TYPES.items() if isinstance(error, cls)),
        "not_found" if isinstance(error, Http404) else "error",
    )
    if isinstance(error, PermissionDenied):
        kind = "permission_denied"
    if isinstance(error, exceptions.ValidationError):
        fields = field_messages(error.detail) or {NON_FIELD: ["Invalid input."]}
        body = {"type": kind, "detail": _summary(fields), "fields": fields}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        body = {"type": kind, "detail": str(detail), "fields": {}}
    response.data = body
    return response


def api_not_found(request) -> JsonResponse:
    """An address under /api/ that no route matches: a 404 in the error shape, not a page."""
    return JsonResponse(
        {"type": "not_found", "detail": f"No API resource at {request.path}.", "fields": {}},
        status=404,
    )
