"""PortalClient and look_up() against the sample eTenders portal over real HTTP on 127.0.0.1."""

import httpx
import pytest

from local.sample_source.server import SampleSource
from tender_sync.errors import SourceUnavailable
from tender_sync.models.lookups import LookupItem
from tender_sync.source.normalize import normalize_release
from tender_sync.source.portal_client import PortalClient
from tender_sync.source.portal_lookup import look_up
from tests.helpers import not_none


@pytest.fixture
def http():
    with httpx.Client() as client:
        yield client


@pytest.fixture
def portal(sample_source, http):
    return PortalClient(sample_source.url, client=http)


def test_old_shape_tender_is_enriched_from_its_portal_row(sample_source, portal):
    rows_by_id = {row["id"]: row for row in sample_source.portal_rows}
    old_shape = next(r for r in sample_source.releases if "category" not in r["tender"])
    tender = normalize_release(old_shape)
    assert tender.enrichment_status == "pending"
    row = rows_by_id[int(tender.ocid.rsplit("-", 1)[1])]
    item = LookupItem(ocid=tender.ocid, tenderNumber=tender.tender_number)

    result = look_up(item, portal)

    assert result.status == "enriched"
    assert result.detailed_category == row["category"]
    assert result.province == row["province"]
    assert not_none(result.details)["contactPerson"]["email"] == row["email"]


def test_portal_and_feed_agree_on_a_new_shape_tender(sample_source, portal):
    new_shape = normalize_release(next(r for r in sample_source.releases if "category" in r["tender"]))
    assert new_shape.enrichment_status == "enriched"
    item = LookupItem(ocid=new_shape.ocid, tenderNumber=new_shape.tender_number)

    result = look_up(item, portal)

    assert (result.detailed_category, result.province, result.details) == (
        new_shape.detailed_category,
        new_shape.province,
        new_shape.details,
    )


def test_tender_number_with_spaces_slashes_and_ampersand_is_found(portal):
    rows = portal.search("IDS (R&T) 03/2026")

    assert [row["id"] for row in rows] == [134379]


def test_search_is_a_case_insensitive_contains_match(portal):
    rows = portal.search("ids (w&s) 0")

    assert [row["tender_No"] for row in rows] == [" IDS (W&S) 04/2026", "IDS (W&S) 05/2026"]


def test_unknown_tender_is_not_found(portal):
    item = LookupItem(ocid="ocds-9t57fa-1", tenderNumber="NO-SUCH-TENDER")

    result = look_up(item, portal)

    assert result.status == "not_found"


def test_synthetic_tenders_beyond_the_real_rows_are_found(http):
    with SampleSource(count=450) as source:
        # Tender 401 = real row 1 in cycle 2: id + 2,000,000, tender number suffixed "/2".
        ocid = f"ocds-9t57fa-{source.portal_rows[1]['id'] + 2_000_000}"
        release = next(r for r in source.releases if r["ocid"] == ocid)
        tender = normalize_release(release)
        assert tender.tender_number == source.portal_rows[1]["tender_No"] + "/2"

        item = LookupItem(ocid=tender.ocid, tenderNumber=tender.tender_number)
        result = look_up(item, PortalClient(source.url, client=http))

    assert result.status == "enriched"
    assert result.detailed_category == source.portal_rows[1]["category"]
    assert len(source.releases) == 450 + 45


def test_slow_portal_is_unavailable(http):
    with SampleSource(portal_latency=0.5) as source:
        portal = PortalClient(source.url, timeout=0.1, client=http)

        with pytest.raises(SourceUnavailable, match="GET /Home/PaginatedTenderOpportunities.* timed out"):
            portal.search("RFQ")
