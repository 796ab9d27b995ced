"""look_up() turning real eTenders portal rows into enrichment results."""

import copy
import json
from typing import Any

import pytest

from local.sample_source.releases import PORTAL_ROWS_FILE, sample_data_dir
from tender_sync.errors import BadSourceData
from tender_sync.models.lookups import LookupItem
from tender_sync.source.portal_lookup import look_up
from tests.helpers import not_none


class RealRowsPortal:
    """Answers searches from the real portal rows, as the portal does: contains-match on the tender number."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows
        self.searches: list[str] = []

    def search(self, tender_number: str) -> list[dict[str, Any]]:
        self.searches.append(tender_number)
        return [row for row in self.rows if tender_number.lower() in row["tender_No"].lower()][:10]


@pytest.fixture(scope="module")
def published_rows() -> list[dict[str, Any]]:
    return json.loads((sample_data_dir() / PORTAL_ROWS_FILE).read_text(encoding="utf-8"))["data"]


@pytest.fixture
def rows_by_id(published_rows) -> dict[int, dict[str, Any]]:
    """A fresh copy per test, shared with the portal fixture: a test may edit a row the portal then returns."""
    return {row["id"]: row for row in copy.deepcopy(published_rows)}


@pytest.fixture
def portal(rows_by_id) -> RealRowsPortal:
    return RealRowsPortal(list(rows_by_id.values()))


def item_for(row: dict[str, Any]) -> LookupItem:
    """The item FetchReleases would send: the feed's tender.title is the row's tender number, as published."""
    return LookupItem(ocid=f"ocds-9t57fa-{row['id']}", tenderNumber=row["tender_No"])


def test_row_becomes_an_enriched_result(portal, rows_by_id):
    result = look_up(item_for(rows_by_id[132162]), portal)

    assert result.ocid == "ocds-9t57fa-132162"
    assert result.status == "enriched"
    assert result.detailed_category == "Services: Functional (Including Cleaning and Security Services)"
    assert result.province == "Eastern Cape"
    details = not_none(result.details)
    assert details["deliveryLocation"] == rows_by_id[132162]["delivery"]
    assert details["briefingSession"]["isSession"] is True
    assert details["briefingSession"]["compulsory"] is True
    assert details["briefingSession"]["venue"].startswith("THE EAST LONDON DoA OFFICE")
    assert details["contactPerson"] == {
        "name": "Contact Person 1",
        "email": "contact1@example.gov.za",
        "telephoneNumber": "000-000-0001",
    }
    # Published as "...Registration\r\n\r\n...(Amathole District)  ".
    assert details["specialConditions"].startswith("•\tPSIRA Registration\n\n•\tBargaining Council")
    assert details["specialConditions"].endswith("(Amathole District)")


def test_naive_portal_times_are_south_african(portal, rows_by_id):
    assert rows_by_id[132162]["compulsory_briefing_session"] == "2025-09-29T11:00:00"

    result = look_up(item_for(rows_by_id[132162]), portal)

    assert not_none(result.details)["briefingSession"]["date"] == "2025-09-29T11:00:00+02:00"


def test_missing_briefing_date_and_no_date_sentinel_mean_no_date(portal, rows_by_id):
    without_briefing = next(row for row in rows_by_id.values() if row["compulsory_briefing_session"] is None)
    with_sentinel = rows_by_id[132162]
    with_sentinel["compulsory_briefing_session"] = with_sentinel["sysStartTime"]  # "0001-01-01T00:00:00"
    portal.rows = [without_briefing, with_sentinel]

    assert not_none(look_up(item_for(without_briefing), portal).details)["briefingSession"]["date"] is None
    assert not_none(look_up(item_for(with_sentinel), portal).details)["briefingSession"]["date"] is None


def test_na_conditions_and_trailing_spaces(portal, rows_by_id):
    row = rows_by_id[134256]
    assert row["tender_No"] == "IEC/SS-02/2025 "
    assert row["conditions"] == "N/A"
    assert row["briefingVenue"].endswith("Centurion                                 ")

    result = look_up(item_for(row), portal)

    assert portal.searches == ["IEC/SS-02/2025"]
    assert result.status == "enriched"
    assert not_none(result.details)["specialConditions"] is None
    assert not_none(result.details)["briefingSession"]["venue"] == (
        "Riverside Office Park,Election House, 1303 Heuwel Avenue, Centurion"
    )


def test_row_is_matched_on_the_ocid_suffix_not_the_first_hit(portal, rows_by_id):
    # "IDS (W&S) 0" matches two real rows; only 134381 is this tender.
    result = look_up(LookupItem(ocid="ocds-9t57fa-134381", tenderNumber="IDS (W&S) 0"), portal)

    assert result.status == "enriched"
    assert not_none(result.details)["briefingSession"]["venue"].startswith("Mayoral Chamber, Civic Centre")


def test_row_is_matched_on_an_equal_id_not_one_containing_the_ocid_suffix(portal, rows_by_id):
    row = rows_by_id[132162]
    containing = {**row, "id": 1132162, "category": "Another category"}  # its id contains "132162"
    portal.rows = [containing, row]

    result = look_up(item_for(row), portal)

    assert result.status == "enriched"
    assert result.detailed_category == row["category"]


def test_a_row_whose_id_only_contains_the_ocid_suffix_is_not_found(portal, rows_by_id):
    row = rows_by_id[132162]
    portal.rows = [{**row, "id": 1132162, "category": "Another category"}]

    result = look_up(item_for(row), portal)

    assert result.status == "not_found"
    assert result.detailed_category is None


def test_tender_number_found_under_another_id_is_not_found(portal, rows_by_id):
    result = look_up(LookupItem(ocid="ocds-9t57fa-999999", tenderNumber=rows_by_id[132162]["tender_No"]), portal)

    assert result.status == "not_found"
    assert result.detailed_category is None
    assert result.details is None


def test_unknown_tender_number_is_not_found(portal):
    result = look_up(LookupItem(ocid="ocds-9t57fa-132162", tenderNumber="NO-SUCH-TENDER"), portal)

    assert result.status == "not_found"


@pytest.mark.parametrize("tender_number", [None, "", "  "])
def test_item_without_tender_number_is_not_found_without_a_search(portal, tender_number):
    result = look_up(LookupItem(ocid="ocds-9t57fa-132162", tenderNumber=tender_number), portal)

    assert result.status == "not_found"
    assert portal.searches == []


def test_unparseable_portal_date_is_bad_source_data(portal, rows_by_id):
    rows_by_id[132162]["compulsory_briefing_session"] = "29 Sept 2025 11h00"

    with pytest.raises(BadSourceData, match="portal row 132162: unparseable briefingSession.date '29 Sept 2025 11h00'"):
        look_up(item_for(rows_by_id[132162]), portal)
