"""OCDS release -> Tender, with each publisher's data quirks read from its profile (tender_sync.publishers).

The cleaning helpers here (text, dates, amounts, portal-style details) are shared with enrichment.py,
so the feed and the eTenders portal obey the same placeholder rules.
"""

import re
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from tender_sync.models.tenders import Tender
from tender_sync.source.publishers import NO_QUIRKS, by_ocid, has_prefix

# An ocid becomes a primary key and part of S3 keys: bounded, no path separator, no whitespace or control characters.
OCID_MAX_LENGTH = 120
OCID_GENERAL_SHAPE = re.compile(r"[A-Za-z]{4}-[0-9A-Za-z]{6}-\S+")
OCID_REFUSED_CHARACTERS = re.compile(r"[\s/\\\x00-\x1f\x7f-\x9f]")
# value_amount is numeric: an amount of a quintillion or more is no real tender's (and 1e999999 overflows it).
MAX_AMOUNT = Decimal("1e18")
AMOUNT_PLACES = Decimal("0.000001")

UNKNOWN_TEXT = frozenset({"", "-", "n/a"})
NO_DATE = "0001-01-01T00:00:00"  # .NET DateTime.MinValue


class NormalizationError(ValueError):
    """A release that cannot become a Tender; the message says what was wrong."""


def malformed_ocid(ocid: str, prefix: str | None = None) -> str | None:
    """Why the ocid is not a well-formed identifier (for the source whose ocid prefix is `prefix`), or None."""
    shown = cut(ocid)
    if len(ocid) > OCID_MAX_LENGTH:
        return f"ocid {shown!r} is longer than {OCID_MAX_LENGTH} characters"
    if OCID_REFUSED_CHARACTERS.search(ocid):
        return f"ocid {shown!r} holds whitespace, a control character or a path separator"
    if not OCID_GENERAL_SHAPE.fullmatch(ocid):
        return f"ocid {shown!r} is not prefix-publisher-id shaped"
    if prefix and not has_prefix(ocid, prefix):
        return f"ocid {shown!r} does not start with this source's prefix {prefix}-"
    return None


def cut(text: str, limit: int = 100) -> str:
    """A source value short enough to echo in a reason or a log line."""
    return text if len(text) <= limit else text[:limit] + "..."


def clean_text(value: Any) -> str | None:
    """Trimmed text with `\\n` line ends, or None for missing and placeholder values."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.replace("\r\n", "\n").strip()
    return None if text.lower() in UNKNOWN_TEXT else text


def parse_datetime(value: Any, wall_clock_zone: tzinfo | None = None, field: str = "date") -> datetime | None:
    """An aware datetime, or None for missing, placeholder and DateTime.MinValue values.

    With a wall_clock_zone, naive and Z-labelled times are read as that zone's wall-clock time;
    otherwise offsets are honoured and naive times (including date-only values) are taken as UTC.
    Raises ValueError naming `field` for anything else.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"unparseable {field} {cut(repr(value))}")
    text = clean_text(value)
    if text is None or text.startswith(NO_DATE):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"unparseable {field} {cut(repr(value))}") from None
    if wall_clock_zone is not None and (parsed.tzinfo is None or parsed.utcoffset() == timedelta(0)):
        return parsed.replace(tzinfo=wall_clock_zone)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed


def parse_amount(value: Any, zero_is_placeholder: bool = False, field: str = "amount") -> Decimal | None:
    """A Decimal, or None for missing, placeholder and out-of-range amounts (NaN, infinity, 1e18 and more), kept
    to 6 decimal places. Raises ValueError naming `field` for non-numbers."""
    if value is None or (isinstance(value, str) and clean_text(value) is None):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"unparseable {field} {cut(repr(value))}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"unparseable {field} {cut(repr(value))}") from None
    # Out of the column's range: stored empty (the release keeps the published value).
    if not amount.is_finite() or abs(amount) >= MAX_AMOUNT:
        return None
    if amount == 0 and zero_is_placeholder:
        return None
    exponent = amount.as_tuple().exponent
    return amount.quantize(AMOUNT_PLACES) if isinstance(exponent, int) and exponent < -6 else amount


def clean_details(fields: dict[str, Any], wall_clock_zone: tzinfo | None) -> dict[str, Any]:
    """Portal-style details from fields named as in the eTenders feed's `tender` object.

    The contactPerson values are personal data: never log the result.
    """
    briefing = _object(fields, "briefingSession")
    contact = _object(fields, "contactPerson")
    briefing_date = parse_datetime(briefing.get("date"), wall_clock_zone, field="briefingSession.date")
    return {
        "deliveryLocation": clean_text(fields.get("deliveryLocation")),
        "specialConditions": clean_text(fields.get("specialConditions")),
        "briefingSession": {
            "isSession": _flag(briefing.get("isSession")),
            "compulsory": _flag(briefing.get("compulsory")),
            "date": briefing_date.isoformat() if briefing_date else None,
            "venue": clean_text(briefing.get("venue")),
        },
        "contactPerson": {
            "name": clean_text(contact.get("name")),
            "email": clean_text(contact.get("email")),
            "telephoneNumber": clean_text(contact.get("telephoneNumber")),
        },
    }


def normalize_release(release: dict[str, Any], ocid_prefix: str | None = None) -> Tender:
    """The release as a Tender; ocid_prefix: the source's, which every ocid must carry."""
    if not isinstance(release, dict):
        raise NormalizationError(f"release is not a JSON object (got {type(release).__name__})")
    ocid = clean_text(release.get("ocid"))
    if ocid is None:
        raise NormalizationError("release has no ocid")
    malformed = malformed_ocid(ocid, ocid_prefix)
    if malformed:
        raise NormalizationError(f"release has a malformed ocid: {malformed}")
    release_id = clean_text(release.get("id"))
    if release_id is None:
        raise NormalizationError(f"release {ocid} has no id")
    publisher = by_ocid(ocid)
    quirks = publisher.data if publisher else NO_QUIRKS
    tender = _object(release, "tender")

    try:
        release_date = parse_datetime(release.get("date"), quirks.wall_clock_zone)
        close_date = parse_datetime(
            _object(tender, "tenderPeriod").get("endDate"), quirks.wall_clock_zone, field="tender.tenderPeriod.endDate"
        )
        value_amount = parse_amount(
            _object(tender, "value").get("amount"), quirks.zero_amount_is_placeholder, field="tender.value.amount"
        )
        detailed_category = clean_text(tender.get("category"))
        details = clean_details(tender, quirks.wall_clock_zone) if detailed_category else None
    except ValueError as exc:
        raise NormalizationError(f"release {ocid}: {exc}") from None
    if release_date is None:
        raise NormalizationError(f"release {ocid} has no date")

    if quirks.title_is_tender_number:
        tender_number = clean_text(tender.get("title"))
        title = description = clean_text(tender.get("description"))
    else:
        tender_number = clean_text(tender.get("id"))
        title = clean_text(tender.get("title"))
        description = clean_text(tender.get("description"))

    return Tender(
        ocid=ocid,
        release_id=release_id,
        release_date=release_date,
        tender_number=tender_number,
        title=title,
        description=description,
        status=clean_text(tender.get("status")),
        main_category=clean_text(tender.get("mainProcurementCategory")),
        detailed_category=detailed_category,
        province=clean_text(tender.get("province")) if detailed_category else None,
        buyer_name=clean_text(_object(release, "buyer").get("name"))
        or clean_text(_object(tender, "procuringEntity").get("name")),
        close_date=close_date,
        value_amount=value_amount,
        currency=clean_text(_object(tender, "value").get("currency")),
        enrichment_status="enriched" if detailed_category else "pending",
        details=details,
        raw=release,
    )


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """parent[key] when it is an object; {} when it is missing, null or some other type."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
