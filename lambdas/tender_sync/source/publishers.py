"""Each publisher's profile, in one place: what its data means, how its API must be read, and how its portal's
rows match its tenders. The functions read their source's profile by SOURCE_NAME; a release is read by the
profile its ocid prefix names (another publisher's, without quirks)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, timezone, tzinfo

SAST = timezone(timedelta(hours=2), "SAST")  # South Africa has no daylight saving time


@dataclass(frozen=True)
class DataQuirks:
    """What its releases mean other than as OCDS says."""

    # tender.title holds the tender number; the human title is tender.description.
    title_is_tender_number: bool = False
    # Times labelled Z (or naive) are local wall-clock time in this zone.
    wall_clock_zone: tzinfo | None = None
    # value.amount 0 means "not published", not "free".
    zero_amount_is_placeholder: bool = False


NO_QUIRKS = DataQuirks()


@dataclass(frozen=True)
class AccessQuirks:
    """How its releases API must be read (tender_sync.ocds_client)."""

    # Its listing pages unstably over a longer window: a window is listed one day at a time.
    list_by_day: bool
    # A listing is first asked for in pages of page_size releases, then in larger pages up to max_page_size; a
    # listing larger than that is read over up to max_passes times.
    page_size: int
    max_page_size: int
    max_passes: int


@dataclass(frozen=True)
class Publisher:
    """One source's profile."""

    # Its name in sync_state and job_log (SOURCE_NAME).
    source_name: str
    # Every ocid it publishes starts with this prefix and a dash.
    ocid_prefix: str
    # Its wall-clock time zone: where a sync's "today" is.
    zone: tzinfo
    data: DataQuirks
    access: AccessQuirks
    # The id of the portal row that describes the tender of an ocid.
    portal_row_id: Callable[[str], str]


def has_prefix(ocid: str, prefix: str) -> bool:
    """Whether the ocid starts with the ocid prefix and a dash, in any case."""
    return ocid.lower().startswith(prefix.lower() + "-")


def ocid_suffix(ocid: str) -> str:
    """What follows the ocid's last dash: ocds-9t57fa-134030 -> 134030."""
    return ocid.rsplit("-", 1)[-1]


ETENDERS = Publisher(
    source_name="etenders-za",
    ocid_prefix="ocds-9t57fa",
    zone=SAST,
    data=DataQuirks(title_is_tender_number=True, wall_clock_zone=SAST, zero_amount_is_placeholder=True),
    access=AccessQuirks(list_by_day=True, page_size=1000, max_page_size=10_000, max_passes=10),
    portal_row_id=ocid_suffix,
)

PUBLISHERS = {publisher.source_name: publisher for publisher in (ETENDERS,)}


def by_source(source_name: str) -> Publisher:
    """The profile of the source a function syncs (its SOURCE_NAME)."""
    try:
        return PUBLISHERS[source_name]
    except KeyError:
        raise LookupError(f"no publisher profile for source {source_name!r} (known: {', '.join(PUBLISHERS)})") from None


def by_ocid(ocid: str) -> Publisher | None:
    """The profile of the publisher whose prefix the ocid carries, or None for a publisher without one."""
    return next((publisher for publisher in PUBLISHERS.values() if has_prefix(ocid, publisher.ocid_prefix)), None)
