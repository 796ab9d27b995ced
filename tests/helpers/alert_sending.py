"""What the alert sending tests share: deliveries to send, the alerts key, and a webhook receiver on 127.0.0.1."""

import hashlib
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tender_sync.alerts import secrets
from tender_sync.alerts.models import Delivery, MatchedTender

KEY = hashlib.sha256(b"the tests' alerts key").digest()
SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CREATED_AT = datetime(2025, 9, 1, 8, 30, tzinfo=UTC)


def tender(ocid: str = "ocds-9t57fa-1", **values: Any) -> MatchedTender:
    fields: dict[str, Any] = {
        "ocid": ocid,
        "title": "Supply of road signs",
        "description": "Road signs for the district",
        "buyer": "City of Tshwane",
        "detailedCategory": "Supplies: General",
        "province": "Gauteng",
        "closeDate": datetime(2025, 9, 30, 9, 0, tzinfo=UTC),
        "valueAmount": Decimal("125000.50"),
        "url": f"https://tenders.example.org/{ocid}",
        "change": "new",
    }
    return MatchedTender.model_validate({**fields, **values})


def email_delivery(number: int = 1, tenders: list[MatchedTender] | None = None, event: str = "run-1/w") -> Delivery:
    return Delivery(
        id=f"msg_email{number:021d}",
        subscription=number,
        channel="email",
        address=f"reader{number}@example.org",
        event=event,
        createdAt=CREATED_AT,
        tenders=tenders if tenders is not None else [tender()],
    )


def webhook_delivery(url: str, number: int = 1, tenders: list[MatchedTender] | None = None) -> Delivery:
    return Delivery(
        id=f"msg_hook{number:022d}",
        subscription=100 + number,
        channel="webhook",
        address=url,
        secret=secrets.encrypt(SIGNING_SECRET, KEY),
        event="run-1/w",
        createdAt=CREATED_AT,
        tenders=tenders if tenders is not None else [tender()],
    )


@dataclass
class Received:
    """A request as the receiver read it, its headers' names in lower case."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A webhook receiver: answers each POST with `status` (after `delay` seconds), a 302 to /elsewhere when
    `redirect`, a 500 to the first attempt of each webhook-id when `fail_first`; keeps what it received. Over TLS
    with `tls` (the server's context)."""

    status: int = 204
    delay: float = 0.0
    redirect: bool = False
    fail_first: bool = False
    tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)

    def __enter__(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                receiver.received.append(
                    Received(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length),
                        time.monotonic(),
                    )
                )
                time.sleep(receiver.delay)
                attempts = [r for r in receiver.received if r.headers.get("webhook-id") == self.headers["webhook-id"]]
                if receiver.fail_first and len(attempts) == 1:
                    self.send_response(500)
                elif receiver.redirect:
                    self.send_response(302)
                    self.send_header("location", "/elsewhere")
                else:
                    self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/hooks/tenders?team=7") -> str:
        return f"http://127.0.0.1:{self.port}{path}"
