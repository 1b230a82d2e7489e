"""Signing and verifying deliveries: Stripe's scheme, no database."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhooks.signing import InvalidSignature, sign, verify

BODY = b'{"id":"evt_1","type":"invoice.issued","data":{}}'
SECRET = "whsec_test"
NOW = 1_780_000_000


def test_a_signed_body_verifies_and_returns_its_timestamp():
    header = sign(BODY, [SECRET], timestamp=NOW)
    assert header.startswith(f"t={NOW},v1=")
    assert verify(BODY, header, SECRET, now=NOW) == NOW
    assert verify(BODY.decode(), header, SECRET, now=NOW) == NOW


def test_the_signature_is_the_hmac_of_timestamp_dot_body():
    # Computed independently, as a receiver in another language would.
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, [SECRET], timestamp=NOW) == f"t={NOW},v1={expected}"


@pytest.mark.parametrize(
    "body, secret",
    [
        (BODY, "whsec_wrong"),  # another endpoint's secret
        (BODY.replace(b"invoice.issued", b"invoice.paid!!"), SECRET),  # altered body
    ],
)
def test_a_wrong_secret_or_an_altered_body_fails(body, secret):
    header = sign(BODY, [SECRET], timestamp=NOW)
    with pytest.raises(InvalidSignature, match="No signature matches"):
        verify(body, header, secret, now=NOW)


def test_an_altered_timestamp_fails():
    header = sign(BODY, [SECRET], timestamp=NOW).replace(f"t={NOW}", f"t={NOW + 1}")
    with pytest.raises(InvalidSignature):
        verify(BODY, header, SECRET, now=NOW)


def test_an_old_signature_fails_unless_the_tolerance_allows_it():
    header = sign(BODY, [SECRET], timestamp=NOW - 301)
    with pytest.raises(InvalidSignature, match="more than 300 seconds"):
        verify(BODY, header, SECRET, now=NOW)
    assert verify(BODY, header, SECRET, tolerance=600, now=NOW) == NOW - 301
    assert verify(BODY, header, SECRET, tolerance=None, now=NOW) == NOW - 301


@pytest.mark.parametrize("header", [None, "", "v1=abc", f"t={NOW}", "t=soon,v1=abc", "garbage"])
def test_a_malformed_header_fails(header):
    with pytest.raises(InvalidSignature, match="Expected"):
        verify(BODY, header, SECRET, now=NOW)


def test_during_a_rotation_either_secret_verifies():
    header = sign(BODY, ["whsec_new", "whsec_old"], timestamp=NOW)
    assert header.count("v1=") == 2
    assert verify(BODY, header, "whsec_new", now=NOW) == NOW
    assert verify(BODY, header, "whsec_old", now=NOW) == NOW
    with pytest.raises(InvalidSignature):
        verify(BODY, header, "whsec_other", now=NOW)


@given(body=st.binary(max_size=200), secret=st.text(min_size=1, max_size=40), flip=st.integers())
def test_any_body_verifies_with_its_secret_and_fails_once_a_byte_changes(body, secret, flip):
    header = sign(body, [secret], timestamp=NOW)
    assert verify(body, header, secret, now=NOW) == NOW
    altered = (
        body + b"x"
        if not body
        else bytes(b ^ 1 if i == flip % len(body) else b for i, b in enumerate(body))
    )
    with pytest.raises(InvalidSignature):
        verify(altered, header, secret, now=NOW)
