"""Webhook deliveries over real HTTP (and TLS) on 127.0.0.1, each request's signature checked with the Standard
Webhooks reference library; the targets refused; no error naming the URL or its host."""

import datetime as dt
import socket
import ssl
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook

from tender_sync.alerts import targets, webhooks
from tender_sync.alerts.models import DeliveryResult
from tests.helpers.alert_sending import KEY, SIGNING_SECRET, Receiver, tender, webhook_delivery

TLS_HOST = "hooks.example.test"


def send(url: str, allow_loopback: bool = True, timeout: float = 2.0, tenders=None) -> DeliveryResult:
    return webhooks.send(webhook_delivery(url, tenders=tenders), KEY, datetime.now(UTC), allow_loopback, timeout)


def assert_names_no_target(result: DeliveryResult, url: str) -> None:
    assert result.error is not None
    assert "127.0.0.1" not in result.error and url not in result.error and TLS_HOST not in result.error


def test_a_delivery_is_posted_signed_as_standard_webhooks_verifies():
    tenders = [tender(), tender("ocds-9t57fa-2", title="Café <renovation>", valueAmount=Decimal(300), change="updated")]
    with Receiver() as receiver:
        url = receiver.url()
        result = send(url, tenders=tenders)

    assert result == DeliveryResult(id="msg_hook0000000000000000000001", delivered=True)
    [request] = receiver.received
    assert request.path == "/hooks/tenders?team=7"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert request.headers["webhook-id"] == result.id
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    first = {
        "ocid": "ocds-9t57fa-1",
        "title": "Supply of road signs",
        "description": "Road signs for the district",
        "buyer": "City of Tshwane",
        "detailedCategory": "Supplies: General",
        "province": "Gauteng",
        "closeDate": "2025-09-30T09:00:00+00:00",
        "valueAmount": 125000.5,
        "url": "https://tenders.example.org/ocds-9t57fa-1",
        "change": "new",
    }
    second = first | {
        "ocid": "ocds-9t57fa-2",
        "title": "Café <renovation>",
        "valueAmount": 300,
        "url": "https://tenders.example.org/ocds-9t57fa-2",
        "change": "updated",
    }
    assert Webhook(SIGNING_SECRET).verify(request.body, request.headers) == {
        "type": "tenders.matched",
        "timestamp": "2025-09-01T08:30:00+00:00",
        "data": {"subscription": 101, "event": "run-1/w", "tenders": [first, second]},
    }
    assert b'"valueAmount":300,' in request.body  # a JSON number, not a string


def test_the_signature_is_the_reference_librarys():
    body = webhooks.body(webhook_delivery("https://hooks.example.org/"))
    at = datetime(2025, 9, 1, 10, 0, 5, tzinfo=UTC)

    headers = webhooks.headers("msg_1", int(at.timestamp()), body, SIGNING_SECRET)

    assert headers["webhook-signature"] == Webhook(SIGNING_SECRET).sign("msg_1", at, body)
    assert headers["webhook-timestamp"] == "1756720805"


def test_an_answer_other_than_2xx_fails_with_its_status():
    with Receiver(status=500) as receiver:
        url = receiver.url()
        result = send(url)

    assert (result.delivered, result.error) == (False, "HTTP 500")
    assert len(receiver.received) == 1  # no retry: a later run retries


def test_a_redirect_is_not_followed():
    with Receiver(redirect=True) as receiver:
        url = receiver.url()
        result = send(url)

    assert (result.delivered, result.error) == (False, "HTTP 302")
    assert [request.path for request in receiver.received] == ["/hooks/tenders?team=7"]


def test_a_receiver_that_does_not_answer_in_time_fails_at_the_timeout():
    with Receiver(delay=1.5) as receiver:
        url = receiver.url()
        started = time.monotonic()
        result = send(url, timeout=0.3)
        elapsed = time.monotonic() - started

    assert (result.delivered, result.error) == (False, "timed out after 0.3 s")
    assert elapsed < 1.0
    assert_names_no_target(result, url)


def test_a_closed_port_is_connection_refused():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"

    result = send(url)

    assert (result.delivered, result.error) == (False, "connection refused")
    assert_names_no_target(result, url)


@pytest.mark.parametrize(
    ("url", "allow_loopback", "error"),
    [
        ("https://169.254.169.254/latest/meta-data/", True, "the webhook's host resolves to a link-local address"),
        ("https://10.1.2.3/hook", True, "the webhook's host resolves to a private address"),
        ("https://[::1]:8443/hook", True, "the webhook's host resolves to a loopback address"),
        ("http://hooks.example.org/hook", True, "the webhook URL is not HTTPS"),
        ("https://user:pass@hooks.example.org/hook", True, "the webhook URL carries credentials"),
    ],
)
def test_a_target_that_is_not_public_https_is_refused_without_a_request(url, allow_loopback, error):
    result = send(url, allow_loopback)

    assert (result.delivered, result.error) == (False, error)
    assert url not in error and "169.254" not in error and "10.1.2.3" not in error and "hooks.example" not in error


def test_loopback_is_refused_unless_allowed():
    with Receiver() as receiver:
        url = receiver.url()
        result = send(url, allow_loopback=False)

    assert (result.delivered, result.error) == (False, "the webhook URL is not HTTPS")
    assert receiver.received == []


def test_a_secret_sealed_with_another_key_fails_without_a_request():
    with Receiver() as receiver:
        delivery = webhook_delivery(receiver.url())
        result = webhooks.send(delivery, b"another key" * 3, datetime.now(UTC), allow_loopback=True)

    assert (result.delivered, result.error) == (False, "a signing secret does not open with the alerts key")
    assert receiver.received == []


# Over TLS: the address the check passed is the one connected to, and the certificate is checked for the host.


@pytest.fixture
def certificates(tmp_path):
    """A CA (its certificate in a file), and a server context with a certificate for TLS_HOST it signed."""
    now = datetime.now(UTC)

    def certificate(subject: str, key, issuer: str, issuer_key, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Tests' CA", ca_key, "Tests' CA", ca_key, ca=True)
    server = certificate(TLS_HOST, server_key, "Tests' CA", ca_key, ca=False)
    ca_file, chain_file, key_file = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_file, key_file)
    names: list[str | None] = []
    context.sni_callback = lambda connection, name, context: names.append(name)
    return ca_file, context, names


def resolving_to_loopback(monkeypatch, host: str, port: int) -> None:
    """The host resolves to 127.0.0.1 (the check is another test's): the connection must go there, named host."""
    monkeypatch.setattr(targets, "addresses", lambda url, allow_loopback=None: ("https", host, port, ["127.0.0.1"]))


def test_over_tls_the_checked_address_is_connected_to_with_the_hosts_name(certificates, monkeypatch):
    ca_file, context, names = certificates
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    with Receiver(tls=context) as receiver:
        resolving_to_loopback(monkeypatch, TLS_HOST, receiver.port)
        result = send(f"https://{TLS_HOST}:{receiver.port}/hooks?x=1")

    assert result.delivered, result.error
    [request] = receiver.received
    assert names == [TLS_HOST]
    assert request.headers["host"] == f"{TLS_HOST}:{receiver.port}"
    assert request.path == "/hooks?x=1"
    Webhook(SIGNING_SECRET).verify(request.body, request.headers)


@pytest.mark.parametrize("trusted", [True, False])
def test_over_tls_a_certificate_not_for_the_host_or_not_trusted_fails_the_handshake(certificates, monkeypatch, trusted):
    ca_file, context, _ = certificates
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    host = "other.example.test" if trusted else TLS_HOST
    with Receiver(tls=context) as receiver:
        resolving_to_loopback(monkeypatch, host, receiver.port)
        url = f"https://{host}:{receiver.port}/hooks"
        result = send(url)

    assert (result.delivered, result.error) == (False, "TLS handshake failed")
    assert receiver.received == []
    assert_names_no_target(result, url)
    assert host not in (result.error or "")
