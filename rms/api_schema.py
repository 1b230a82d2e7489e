"""OpenAPI additions every operation shares: the error shape, and the headers of retries.

Views document their own successes and the refusals particular to them; what any operation can
answer (a bad request, no or a bad token, a missing permission, an unknown object, a rate limit)
is added here once, so the schema is complete without each view repeating it.
"""

from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse

ERROR = {
    "type": "object",
    "description": "Every API error has this shape.",
    "properties": {
        "type": {
            "type": "string",
            "description": "validation_error, not_authenticated, authentication_failed, "
            "permission_denied, not_found, method_not_allowed, throttled, "
            "idempotency_error, ...",
        },
        "detail": {"type": "string", "description": "One sentence saying what is wrong."},
        "fields": {
            "type": "object",
            "description": "Messages by field path in the request, e.g. lines[1].unit_price; "
            "non_field_errors for the request as a whole. Empty unless type is "
            "validation_error.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "detail", "fields"],
}
REF = {"$ref": "#/components/schemas/Error"}
COMMON = {
    "400": "The request is invalid; fields names what to fix.",
    "401": "No credentials, or a token that is invalid, expired or revoked.",
    "403": "The caller (or its token's scopes) lacks the permission.",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
}
UNSUPPORTED_BODY = "The body's Content-Type is not one this operation reads."
IDEMPOTENT_WRITES = {
    "409": "A request with the same Idempotency-Key is still being processed.",
    "422": "The Idempotency-Key was used before with another request.",
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": build_basic_type(OpenApiTypes.STR),
    "description": "Any unique string up to 255 characters. Sending the request again with the "
    "same key returns the first response (marked Idempotent-Replayed: true) instead of "
    "doing it twice. Kept for RMS_IDEMPOTENCY_DAYS days.",
}


# What views say of their own refusals; the body is the Error schema, which the hook adds.
DENIED = OpenApiResponse(description="Not logged in, or without the permission this needs.")
REFUSED = OpenApiResponse(
    description="Refused, nothing changed; fields names each field at fault by its path in the "
    "request, e.g. lines[1].unit_price."
)


def not_found(what: str) -> OpenApiResponse:
    return OpenApiResponse(description=f"No {what} has this id (or the caller may not see it).")


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": REF}}}


def error_responses(result, generator, request, public):
    """Add the shared error responses and the Idempotency-Key header to every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            extra = dict(COMMON)
            if "{" in path:
                extra["404"] = "No such object, or one the caller may not see."
            elif any(p.get("name") == "page" for p in operation.get("parameters", [])):
                extra["404"] = "No such page."
            if method in ("post", "put", "patch"):
                extra["415"] = UNSUPPORTED_BODY
            if method in ("post", "patch"):
                extra.update(IDEMPOTENT_WRITES)
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == "Idempotency-Key" for p in parameters):
                    parameters.append(IDEMPOTENCY_KEY)
            for status, description in extra.items():
                responses.setdefault(status, _error_response(description))
            for status, response in responses.items():
                # A view's own refusals say why in words; their body is the one error shape.
                if str(status).startswith("4") and "content" not in response:
                    response["content"] = {"application/json": {"schema": REF}}
    return result
