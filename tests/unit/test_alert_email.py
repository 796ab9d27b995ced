"""Alert emails as a mail client reads them: their headers, both alternatives, every source value escaped; and
what SES is asked, and what its refusals come to."""

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.exceptions import ClientError, EndpointConnectionError

from tender_sync.alerts import email, secrets
from tender_sync.alerts.models import DeliveryResult
from tests.helpers.alert_sending import KEY, email_delivery, tender

FROM = "Tender alerts <alerts@tenders.example.org>"
UNSUBSCRIBE_URL = "https://unsubscribe.example.org/"


def parsed(mail: EmailMessage) -> EmailMessage:
    """The message as a mail client gets it: its bytes as SES sends them, parsed."""
    message = BytesParser(policy=policy.default).parsebytes(mail.as_bytes(policy=email.WIRE))
    assert isinstance(message, EmailMessage)
    return message


def bodies(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def test_an_email_has_the_headers_a_mail_client_and_one_click_unsubscribe_need():
    delivery = email_delivery(7, tenders=[tender("ocds-1"), tender("ocds-2"), tender("ocds-3")])

    message = parsed(email.message(delivery, FROM, UNSUBSCRIBE_URL, KEY))

    assert message["From"] == FROM
    assert message["To"] == "reader7@example.org"
    assert message["Subject"] == "3 tenders match your alert"
    assert message["Message-ID"] == f"<{delivery.id}@tender-sync>"
    assert message["Date"] is not None
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(message["List-Unsubscribe"])
    assert unsubscribe.startswith(f"<{UNSUBSCRIBE_URL}?") and unsubscribe.endswith(">")
    query = parse_qs(urlsplit(unsubscribe[1:-1]).query)
    assert query == {"s": ["7"], "t": [secrets.unsubscribe_token(7, KEY)]}
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]


def test_the_unsubscribe_url_is_sent_as_written_however_long_not_encoded_or_folded():
    long_url = "https://" + "u" * 40 + ".lambda-url.af-south-1.on.aws/"
    raw = email.message(email_delivery(7), FROM, long_url, KEY).as_bytes(policy=email.WIRE)
    (line,) = [line for line in raw.split(b"\r\n") if line.startswith(b"List-Unsubscribe:")]
    assert line == f"List-Unsubscribe: <{long_url}?s=7&t={secrets.unsubscribe_token(7, KEY)}>".encode()


def test_both_alternatives_list_each_tender_and_the_html_escapes_every_source_value():
    hostile = tender(
        "ocds-9t57fa-<1>",
        title="<script>alert(1)</script> & Sons",
        buyer='Buyer "quoted" <b>',
        detailedCategory="Services: <i>",
        province="Gauteng & more",
        url='https://tenders.example.org/ocds?a=1&b="2"',
        change="updated",
    )

    plain, html = bodies(parsed(email.message(email_delivery(tenders=[hostile]), FROM, UNSUBSCRIBE_URL, KEY)))

    assert "<script>alert(1)</script> & Sons (updated)" in plain
    assert 'Buyer: Buyer "quoted" <b>' in plain and "Closes: 30 Sep 2025 11:00 SAST" in plain
    assert 'https://tenders.example.org/ocds?a=1&b="2"' in plain
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Sons (updated)" in html
    assert "Buyer: Buyer &quot;quoted&quot; &lt;b&gt;" in html and "Province: Gauteng &amp; more" in html
    assert 'href="https://tenders.example.org/ocds?a=1&amp;b=&quot;2&quot;"' in html
    assert "Closes: 30 Sep 2025 11:00 SAST" in html


def test_a_title_with_line_breaks_stays_one_subject_line_and_adds_no_header():
    delivery = email_delivery(tenders=[tender(title="Roads\r\nBcc: victim@example.org\n\nbody")])

    message = parsed(email.message(delivery, FROM, UNSUBSCRIBE_URL, KEY))

    assert message["Subject"] == "1 tender matches your alert: Roads Bcc: victim@example.org body"
    assert message["Bcc"] is None
    plain, _ = bodies(message)
    assert "Roads Bcc: victim@example.org body" in plain.splitlines()


def test_non_ascii_titles_survive_the_trip():
    delivery = email_delivery(tenders=[tender(title="Café renovation – phase 2")])

    message = parsed(email.message(delivery, FROM, UNSUBSCRIBE_URL, KEY))

    assert message["Subject"] == "1 tender matches your alert: Café renovation – phase 2"
    assert "Café renovation – phase 2" in bodies(message)[0]
    assert message.as_bytes(policy=policy.SMTP).isascii()


def test_a_long_title_is_shortened_in_the_subject_only():
    delivery = email_delivery(tenders=[tender(title="Word " * 40)])

    message = parsed(email.message(delivery, FROM, UNSUBSCRIBE_URL, KEY))

    assert len(str(message["Subject"])) < 120 and str(message["Subject"]).endswith("…")
    assert ("Word " * 39 + "Word") in bodies(message)[0]


def test_a_digest_says_its_day():
    delivery = email_delivery(tenders=[tender("ocds-1"), tender("ocds-2")], event="digest/2025-09-02")

    message = parsed(email.message(delivery, FROM, UNSUBSCRIBE_URL, KEY))

    assert message["Subject"] == "Your daily tender alert for 2025-09-02: 2 tenders"
    assert "on 2025-09-02" in bodies(message)[0]


class FakeSes:
    def __init__(self, error: Exception | None = None):
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def send_email(self, **arguments):
        self.calls.append(arguments)
        if self.error:
            raise self.error
        return {"MessageId": "ses-1"}


def test_send_asks_ses_for_the_raw_message_tagged_with_its_subscription():
    ses = FakeSes()
    delivery = email_delivery(7)

    result = email.send(delivery, ses, FROM, "alerts", UNSUBSCRIBE_URL, KEY)

    assert result == DeliveryResult(id=delivery.id, delivered=True)
    [call] = ses.calls
    raw = call.pop("Content")["Raw"]["Data"]
    assert call == {
        "FromEmailAddress": FROM,
        "Destination": {"ToAddresses": ["reader7@example.org"]},
        "EmailTags": [{"Name": "subscription", "Value": "7"}],
        "ConfigurationSetName": "alerts",
    }
    assert BytesParser(policy=policy.default).parsebytes(raw)["Message-ID"] == f"<{delivery.id}@tender-sync>"


def test_send_names_no_configuration_set_when_there_is_none():
    ses = FakeSes()

    email.send(email_delivery(), ses, FROM, "", UNSUBSCRIBE_URL, KEY)

    assert "ConfigurationSetName" not in ses.calls[0]


def test_an_ses_refusal_is_its_code_never_the_address():
    refusal = ClientError(
        {"Error": {"Code": "MessageRejected", "Message": "Email address is not verified: reader1@example.org"}},
        "SendEmail",
    )

    result = email.send(email_delivery(), FakeSes(refusal), FROM, "alerts", UNSUBSCRIBE_URL, KEY)

    assert (result.delivered, result.error) == (False, "SES: MessageRejected")


def test_ses_unreachable_fails_the_delivery_not_the_batch():
    unreachable = EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com")

    result = email.send(email_delivery(), FakeSes(unreachable), FROM, "alerts", UNSUBSCRIBE_URL, KEY)

    assert (result.delivered, result.error) == (False, "SES: EndpointConnectionError")


def test_an_address_that_cannot_be_a_header_fails_without_naming_it():
    delivery = email_delivery().model_copy(update={"address": "reader@example.org\r\nBcc: other@example.org"})
    ses = FakeSes()

    result = email.send(delivery, ses, FROM, "alerts", UNSUBSCRIBE_URL, KEY)

    assert (result.delivered, result.error) == (False, "the address cannot be written in an email")
    assert ses.calls == []
