"""Fixtures of the webhook tests: a real HTTP receiver on 127.0.0.1 and endpoints pointing at it.

The billing fixtures (activate, bill, issued invoices, the milestone project) are the billing
tests' own, imported so that the events come from the real services.
"""

import json
import threading
import time
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.billing.conftest import (  # noqa: F401 (fixtures)
    activate,
    bill,
    issued_invoice,
    milestone_project,
)
from webhooks.models import WebhookEndpoint
from webhooks.signing import SIGNATURE_HEADER, verify


@dataclass
class Received:
    """One request the receiver got, as a webhook consumer would see it."""

    path: str
    headers: Message
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    def verify(self, secret: str, **kwargs) -> int:
        return verify(self.body, self.headers[SIGNATURE_HEADER], secret, **kwargs)


class Receiver:
    """A webhook receiver in a thread: records every POST and answers with the next status of
    ``statuses`` (then ``default_status``), after ``delay`` seconds."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: list[int] = []
        self.default_status = 200
        self.delay = 0.0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/rms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _answer(self, received: Received) -> int:
        with self._lock:
            self.requests.append(received)
            return self.statuses.pop(0) if self.statuses else self.default_status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver._answer(Received(self.path, self.headers, body))
                time.sleep(receiver.delay)
                answer = b"ok" if status < 300 else f"no: {status}".encode()
                try:
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:  # the client gave up waiting (a timeout test)
                    pass

            def log_message(self, format, *args) -> None:
                pass

        return Handler

    def types(self) -> list[str]:
        return [request.json()["type"] for request in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def make_endpoint(receiver):
    """Return a function creating an endpoint at the receiver, subscribed to ``events``."""

    def make(*events: str, **fields) -> WebhookEndpoint:
        fields.setdefault("url", receiver.url)
        return WebhookEndpoint.objects.create(events=list(events), **fields)

    return make


@pytest.fixture(autouse=True)
def no_invoice_email(settings):
    """Keep issued invoices from being rendered and emailed: these tests are about webhooks."""
    settings.RMS_AUTO_DELIVERY = False
