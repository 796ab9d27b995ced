"""The live sample source (`make run`'s and `make up`'s): dated up to today, publishing as time passes, the same in
every process; its listing, its detail endpoint and its portal search agree, read through the sync's own clients."""

import json
from datetime import date, datetime, time, timedelta

import httpx
import pytest

from local.sample_source.faults import Faults
from local.sample_source.releases import LiveTenders, Release, load_portal_rows
from local.sample_source.server import RELEASE_PATH_PREFIX, SampleSource
from tender_sync.models.lookups import LookupItem
from tender_sync.source.normalize import normalize_release
from tender_sync.source.ocds_client import OcdsClient
from tender_sync.source.portal_client import PortalClient
from tender_sync.source.portal_lookup import look_up
from tender_sync.source.publishers import SAST
from tender_sync.storage.cursor import source_today
from tests.helpers import not_none

NOON = datetime.combine(source_today(), time(12), SAST)
TODAY = NOON.date()


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock(NOON)


@pytest.fixture
def live(clock):
    with SampleSource(fixed=False, clock=clock) as source:
        yield source


@pytest.fixture
def http():
    with httpx.Client() as client:
        yield client


def listed(source: SampleSource, first: date, last: date) -> list[Release]:
    return [r for n in range((last - first).days + 1) for r in source.releases_listed_on(first + timedelta(days=n))]


def detail_status(source: SampleSource, ocid: str) -> int:
    return source.reply(RELEASE_PATH_PREFIX + ocid, {}, "http://127.0.0.1").status


def test_the_newest_releases_are_today_s():
    source = SampleSource(fixed=False)
    today = source_today()

    releases = source.releases_listed_on(today)

    assert releases and all(r["date"] == f"{today}T00:00:00Z" for r in releases)
    assert source.releases_listed_on(today + timedelta(days=1)) == []


def test_an_hour_later_it_lists_new_tenders_and_newer_releases_of_earlier_ones(live, clock):
    before = {r["id"]: r for r in listed(live, TODAY - timedelta(days=3), TODAY)}

    clock.now += timedelta(hours=1)
    after = {r["id"]: r for r in listed(live, TODAY - timedelta(days=3), TODAY)}

    assert before.keys() < after.keys()
    added = [after[release_id] for release_id in sorted(after.keys() - before.keys())]
    assert all(r["date"] == f"{TODAY}T00:00:00Z" for r in added)
    known = {r["ocid"]: r for r in before.values()}
    new = [r for r in added if r["ocid"] not in known]
    newer = [r for r in added if r["ocid"] in known]
    assert len(new) == 12  # one every 5 minutes
    assert newer, "a newer release of an earlier tender"
    assert all(r["date"] > known[r["ocid"]]["date"] for r in newer)
    # The new tenders' ocids are fresh: an hour before, neither the API nor the portal knew them.
    clock.now = NOON
    for release in new:
        assert detail_status(live, release["ocid"]) == 404
        search = live.reply("/Home/PaginatedTenderOpportunities", {"search[value]": [release["tender"]["title"]]}, "")
        assert release["tender"]["id"] not in [str(row["id"]) for row in search.document["data"]]


def test_a_window_and_the_portal_agree_on_every_tender_and_its_dates(live, http):
    window = (TODAY - timedelta(days=1), TODAY + timedelta(days=1))

    releases = list(OcdsClient(live.url, client=http).iter_releases(*window))

    assert [r["id"] for r in releases] == [r["id"] for r in listed(live, window[0], TODAY)]
    portal = PortalClient(live.url, client=http)
    old_shape = 0
    for release in releases:
        tender = normalize_release(release)
        number = not_none(tender.tender_number)
        [row] = [row for row in portal.search(number) if str(row["id"]) == release["tender"]["id"]]
        period = release["tender"]["tenderPeriod"]
        assert period["startDate"] == row["date_Published"] + "Z"
        if release["date"][:10] == row["date_Published"][:10]:  # its first release: the row as it was published
            assert period["endDate"] == row["closing_Date"] + "Z"
        result = look_up(LookupItem(ocid=tender.ocid, tenderNumber=number), portal)
        assert result.status == "enriched"
        if tender.enrichment_status == "enriched":  # the newer shape: the portal's fields in the release
            assert (result.detailed_category, result.province, result.details) == (
                tender.detailed_category,
                tender.province,
                tender.details,
            )
        else:
            old_shape += 1
            assert (result.detailed_category, result.province) == (row["category"], row["province"])
    assert old_shape > 0


def test_every_date_of_a_recycled_row_moves_by_the_same_days():
    tenders, real_rows = LiveTenders(), load_portal_rows()
    newest = tenders.appeared_by(NOON)  # 145 tenders have appeared today by noon
    k = next(
        k
        for k in range(newest - 100, newest)
        if real_rows[k % 200]["compulsory_briefing_session"] and real_rows[k % 200]["supportDocument"]
    )
    row, real = tenders.portal_row(k), real_rows[k % 200]
    moved = TODAY - date.fromisoformat(real["date_Published"][:10])

    assert row["date_Published"][:10] == TODAY.isoformat()
    pairs = [(row[field], real[field]) for field in ("date_Published", "closing_Date", "compulsory_briefing_session")]
    pairs += [
        (document["dateModified"], original["dateModified"])
        for document, original in zip(row["supportDocument"], real["supportDocument"], strict=True)
    ]
    for timestamp, original in pairs:
        assert date.fromisoformat(timestamp[:10]) - date.fromisoformat(original[:10]) == moved
        assert timestamp[10:] == original[10:]


def test_two_sources_at_the_same_time_serve_the_same_releases_and_faults(clock):
    faults = Faults(seed=3, broken=0.1, poisoned=0.05)
    one, other = (SampleSource(fixed=False, clock=clock, faults=faults) for _ in range(2))

    releases = listed(one, TODAY - timedelta(days=2), TODAY)

    assert json.dumps(releases) == json.dumps(listed(other, TODAY - timedelta(days=2), TODAY))
    damaged = [r for r in releases if "ocid" not in r or "date" not in r or "/" in r["ocid"]]
    assert damaged, "some releases broken on purpose"
    newest = {r["ocid"]: r for r in releases if "ocid" in r and "/" not in r["ocid"]}
    for ocid, release in list(newest.items())[::25]:
        assert json.dumps(one.reply(RELEASE_PATH_PREFIX + ocid, {}, "").document["releases"]) == json.dumps([release])


def test_the_fixed_data_s_layout_needs_the_fixed_data():
    with pytest.raises(ValueError, match="fixed data"):
        SampleSource(count=450, fixed=False)
