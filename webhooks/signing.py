"""Signatures of webhook deliveries, Stripe's scheme: ``t=<unix time>,v1=<hex HMAC-SHA256>``.

The HMAC covers ``"<t>.<raw body>"``, so a receiver knows the body came from RMS unaltered
and, by comparing ``t`` with its clock, that it is not an old delivery replayed. While a
rotated secret's grace period lasts, the header carries one ``v1`` per secret.

A receiver in Python checks a delivery with ``verify`` (a copy of this module is enough: it
needs nothing but the standard library)::

    verify(request.body, request.headers["RMS-Signature"], secret)  # raises InvalidSignature
"""

import hashlib
import hmac
import time
from collections.abc import Iterable

SIGNATURE_HEADER = "RMS-Signature"
EVENT_ID_HEADER = "RMS-Event-Id"
EVENT_TYPE_HEADER = "RMS-Event-Type"
# Seconds a signature stays acceptable, either way: wide enough for clock drift and a slow
# network, narrow enough that a captured delivery cannot be replayed later.
DEFAULT_TOLERANCE = 300


class InvalidSignature(ValueError):
    """The body was not signed with this secret, was altered, or the signature is too old."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: Iterable[str], timestamp: int | None = None) -> str:
    """Return the signature header's value for ``body``: one ``v1`` per secret, in order."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signatures = ",".join(f"v1={_digest(secret, timestamp, body)}" for secret in secrets)
    return f"t={timestamp},{signatures}"


def verify(
    body: bytes | str,
    header: str | None,
    secret: str,
    tolerance: int | None = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> int:
    """Check that ``header`` signs the raw ``body`` with ``secret``; return its timestamp.

    ``body`` must be the bytes as received: parsing and re-serializing the JSON changes them.
    ``tolerance`` is how many seconds the timestamp may be from ``now`` (None: any age).
    Raises ``InvalidSignature`` saying what is wrong.
    """
    if isinstance(body, str):
        body = body.encode()
    timestamp, signatures = _parse(header or "")
    expected = _digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidSignature("No signature matches the body with this secret.")
    now = time.time() if now is None else now
    if tolerance is not None and abs(now - timestamp) > tolerance:
        raise InvalidSignature(
            f"The signature's timestamp {timestamp} is more than {tolerance} seconds from now."
        )
    return timestamp


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp = None
    signatures = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature(f"Expected 't=<unix time>,v1=<hex>', got {header!r}.")
    return timestamp, signatures
