"""Alert emails: one message listing a delivery's tenders (text and HTML), sent through SES v2 as raw MIME with
the one-click unsubscribe headers (RFC 8058) and the subscription as a tag, which SES's bounce and complaint
events carry back (tender_sync.alerts.feedback). Errors name what failed, never the address."""

import html
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tender_sync.alerts import unsubscribe
from tender_sync.alerts.models import Delivery, DeliveryResult, MatchedTender
from tender_sync.source.publishers import SAST

DIGEST_PREFIX = "digest/"
TAG = "subscription"
SUBJECT_TITLE_CHARACTERS = 80
# SMTP's line endings, with no folding: folded, the long List-Unsubscribe URL would be RFC 2047-encoded, which mail
# clients do not read as a URL. (The body is quoted-printable, its lines short either way.)
WIRE = policy.SMTP.clone(max_line_length=None)


def message(delivery: Delivery, from_address: str, unsubscribe_url: str, key: bytes) -> EmailMessage:
    """The delivery as an email to its subscription's address. ValueError when the address cannot be a header."""
    link = unsubscribe.link(unsubscribe_url, delivery.subscription, key)
    mail = EmailMessage()
    mail["From"] = from_address
    mail["To"] = delivery.address
    mail["Subject"] = subject(delivery)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = f"<{delivery.id}@tender-sync>"
    mail["List-Unsubscribe"] = f"<{link}>"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # Quoted-printable: SES asks for 7-bit content, and the titles are not all ASCII.
    mail.set_content(_text(delivery, link), cte="quoted-printable")
    mail.add_alternative(_html(delivery, link), subtype="html", cte="quoted-printable")
    return mail


def subject(delivery: Delivery) -> str:
    """One line: how many tenders (and the one's title when there is one), or the digest's day."""
    count = len(delivery.tenders)
    tenders = f"{count} tender" if count == 1 else f"{count} tenders"
    if delivery.event.startswith(DIGEST_PREFIX):
        return f"Your daily tender alert for {delivery.event.removeprefix(DIGEST_PREFIX)}: {tenders}"
    title = delivery.tenders[0].title if count == 1 else None
    if title:
        return f"{tenders} matches your alert: {_shortened(_line(title), SUBJECT_TITLE_CHARACTERS)}"
    return f"{tenders} {'matches' if count == 1 else 'match'} your alert"


def send(
    delivery: Delivery, ses: Any, from_address: str, configuration_set: str, unsubscribe_url: str, key: bytes
) -> DeliveryResult:
    """The email sent through SES v2 (no configuration set when it is empty): delivered once SES accepts it."""
    try:
        mail = message(delivery, from_address, unsubscribe_url, key)
    except ValueError:
        return DeliveryResult(id=delivery.id, delivered=False, error="the address cannot be written in an email")
    try:
        ses.send_email(
            FromEmailAddress=from_address,
            Destination={"ToAddresses": [delivery.address]},
            Content={"Raw": {"Data": mail.as_bytes(policy=WIRE)}},
            EmailTags=[{"Name": TAG, "Value": str(delivery.subscription)}],
            **({"ConfigurationSetName": configuration_set} if configuration_set else {}),
        )
    except ClientError as error:  # its message can quote the address: its code only
        return DeliveryResult(id=delivery.id, delivered=False, error=f"SES: {error.response['Error']['Code']}")
    except BotoCoreError as error:
        return DeliveryResult(id=delivery.id, delivered=False, error=f"SES: {type(error).__name__}")
    return DeliveryResult(id=delivery.id, delivered=True)


def _intro(delivery: Delivery) -> str:
    if delivery.event.startswith(DIGEST_PREFIX):
        return f"The tenders that matched your alert on {delivery.event.removeprefix(DIGEST_PREFIX)}:"
    return "New tenders match your alert:" if len(delivery.tenders) > 1 else "A new tender matches your alert:"


def _facts(tender: MatchedTender) -> list[tuple[str, str]]:
    """The tender's lines under its title, each a label and a value from the source, on one line."""
    facts = [
        ("Buyer", tender.buyer),
        ("Category", tender.detailedCategory),
        ("Province", tender.province),
        ("Closes", _closing(tender.closeDate)),
    ]
    return [(label, _line(value)) for label, value in facts if value]


def _title(tender: MatchedTender) -> str:
    title = _line(tender.title or "") or tender.ocid
    return f"{title} (updated)" if tender.change == "updated" else title


def _text(delivery: Delivery, link: str) -> str:
    lines = [_intro(delivery), ""]
    for tender in delivery.tenders:
        lines.append(_title(tender))
        lines.extend(f"  {label}: {value}" for label, value in _facts(tender))
        lines.extend([f"  {tender.url}", ""])
    lines.append(f"Unsubscribe: {link}")
    return "\n".join(lines) + "\n"


def _html(delivery: Delivery, link: str) -> str:
    items = []
    for tender in delivery.tenders:
        facts = "".join(f"<br>{label}: {html.escape(value)}" for label, value in _facts(tender))
        items.append(f'<li><a href="{html.escape(tender.url)}">{html.escape(_title(tender))}</a>{facts}</li>')
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"></head><body>'
        f"<p>{html.escape(_intro(delivery))}</p><ul>{''.join(items)}</ul>"
        f'<p><a href="{html.escape(link)}">Unsubscribe</a></p></body></html>\n'
    )


def _closing(close_date: datetime | None) -> str | None:
    """South African time, as the portal shows it."""
    return close_date.astimezone(SAST).strftime("%d %b %Y %H:%M SAST") if close_date else None


def _line(text: str) -> str:
    """The text on one line: a newline in a source value must not start a header, nor a fake line."""
    return " ".join(text.split())


def _shortened(text: str, characters: int) -> str:
    return text if len(text) <= characters else text[: characters - 1].rstrip() + "…"
