"""normalize_release on real releases: one test per publisher quirk."""

import copy
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from local.sample_source.releases import PORTAL_ROWS_FILE
from tender_sync.source.normalize import NormalizationError, clean_text, normalize_release, parse_datetime
from tests.helpers import load, not_none

SAST = timezone(timedelta(hours=2))


@pytest.fixture
def etenders_release() -> dict[str, Any]:
    return load("etenders-za/ocds_release_ocds-9t57fa-165050_2026-08-14.json")["release"]


def first_release(relative_path: str) -> dict[str, Any]:
    return load(f"other-publishers/{relative_path}")["releases"][0]


def old_shape(release: dict[str, Any]) -> dict[str, Any]:
    """The same release as eTenders published it before the feed carried the portal fields."""
    older = copy.deepcopy(release)
    for key in ("category", "province", "deliveryLocation", "specialConditions", "briefingSession", "contactPerson"):
        del older["tender"][key]
    return older


def test_etenders_title_is_the_tender_number_and_description_the_title(etenders_release):
    tender = normalize_release(etenders_release)

    assert tender.tender_number == "ZNTM01266W"
    assert tender.title == (
        "Department of Education: Sanitation Programme for schools: Ugu District : Nositha Primary School : 5GB"
    )
    assert tender.description == tender.title


def test_etenders_z_times_are_south_african_wall_clock(etenders_release):
    tender = normalize_release(etenders_release)

    assert tender.close_date == datetime(2026, 9, 16, 11, 0, tzinfo=SAST)
    assert tender.close_date.utcoffset() == timedelta(hours=2)
    assert tender.release_date == datetime(2026, 8, 14, 0, 0, tzinfo=SAST)
    assert not_none(tender.details)["briefingSession"]["date"] == "2026-08-25T11:00:00+02:00"


def test_etenders_explicit_non_zero_offset_is_kept_not_read_as_south_african(etenders_release):
    etenders_release["tender"]["tenderPeriod"]["endDate"] = "2025-10-13T11:00:00+05:00"

    tender = normalize_release(etenders_release)

    assert tender.close_date == datetime(2025, 10, 13, 6, 0, tzinfo=UTC)


def test_etenders_zero_amount_is_a_placeholder(etenders_release):
    assert etenders_release["tender"]["value"]["amount"] == 0

    tender = normalize_release(etenders_release)

    assert tender.value_amount is None
    assert tender.currency == "ZAR"


def test_other_publishers_zero_amount_is_a_real_zero():
    release = load("other-publishers/mx-apf_record-package_2records.json")["records"][0]["releases"][0]
    assert release["tender"]["value"] == {"amount": 0}

    assert normalize_release(release).value_amount == Decimal(0)


def test_new_etenders_release_carries_its_portal_fields_cleaned(etenders_release):
    tender = normalize_release(etenders_release)

    assert tender.enrichment_status == "enriched"
    assert tender.detailed_category == "Sewerage"
    assert tender.province == "KwaZulu-Natal"
    assert tender.main_category == "works"
    assert (
        not_none(tender.details)["deliveryLocation"]
        == "Oatlands Farm / Nositha Location - Nositha Location - Margate - 4278"
    )
    assert not_none(tender.details)["briefingSession"] == {
        "isSession": True,
        "compulsory": True,
        "date": "2026-08-25T11:00:00+02:00",
        "venue": "at Nositha Primary School",
    }
    assert not_none(tender.details)["contactPerson"] == {
        "name": "Contact Person",
        "email": "contact@example.gov.za",
        "telephoneNumber": "000-000-0000",
    }
    conditions = not_none(tender.details)["specialConditions"]
    assert "\r" not in conditions
    assert "\n\nNote:" in conditions
    assert conditions.endswith("80/20, where 20 points of specific goals per project will be allocated.")


def test_old_etenders_release_is_pending_enrichment(etenders_release):
    tender = normalize_release(old_shape(etenders_release))

    assert tender.enrichment_status == "pending"
    assert tender.detailed_category is None
    assert tender.province is None
    assert tender.details is None
    assert tender.tender_number == "ZNTM01266W"


def test_release_fields_and_raw_are_kept_as_published(etenders_release):
    published = copy.deepcopy(etenders_release)

    tender = normalize_release(etenders_release)

    assert tender.ocid == "ocds-9t57fa-165050"
    assert tender.release_id == "ocds-9t57fa-165050-2026-08-14"
    assert tender.status == "active"
    assert tender.buyer_name == "Kwazulu Natal - Public Works (Head Office)"
    assert tender.raw == published
    assert etenders_release == published


def test_buyer_falls_back_to_the_procuring_entity(etenders_release):
    del etenders_release["buyer"]

    assert normalize_release(etenders_release).buyer_name == "Kwazulu Natal - Public Works (Head Office)"


def test_no_date_sentinel_means_no_date(etenders_release):
    sentinel = load(PORTAL_ROWS_FILE)["data"][0]["sysStartTime"]
    assert sentinel == "0001-01-01T00:00:00"
    etenders_release["tender"]["tenderPeriod"]["endDate"] = sentinel
    etenders_release["tender"]["briefingSession"]["date"] = sentinel

    tender = normalize_release(etenders_release)

    assert tender.close_date is None
    assert not_none(tender.details)["briefingSession"]["date"] is None


@pytest.mark.parametrize("placeholder", ["", " - ", "N/A", "   ", None])
def test_placeholders_mean_unknown(placeholder):
    assert clean_text(placeholder) is None


def test_published_placeholders_are_unknown(etenders_release):
    portal_row = load(PORTAL_ROWS_FILE)["data"][0]

    assert clean_text(etenders_release["planning"]["budget"]["description"]) is None  # " - "
    assert clean_text(portal_row["fax"]) is None  # "N/A"


def test_tag_string_date_only_and_awards_object_taiwan():
    release = load("other-publishers/tw_release_tag-string_date-only.json")
    assert release["tag"] == "awardNotice"
    assert isinstance(release["awards"], dict)

    tender = normalize_release(release)

    assert tender.ocid == "ocid-6as3t2-51179519"
    assert tender.release_date == datetime(2014, 2, 5, tzinfo=UTC)
    assert tender.tender_number == "ocid-6as3t2-51179519-tender"
    assert tender.buyer_name is None


def test_explicit_nulls_uk():
    release = first_release("uk-contracts-finder_record-like_nulls.json")
    assert release["tender"]["procurementMethod"] is None
    assert release["tender"]["submissionMethod"] is None

    tender = normalize_release(release)

    # Published with a leading space.
    assert tender.title == "STANDING LIST OF CONSTRUCTION CONTRACTORS AND SUB-CONTRACTORS"
    assert tender.buyer_name == "Spend Network"
    assert tender.value_amount == Decimal(2000000)
    assert tender.currency == "GBP"
    assert tender.close_date == datetime(2020, 3, 31, tzinfo=UTC)
    assert tender.main_category is None


def test_explicit_nulls_where_objects_belong_uk():
    release = first_release("uk-contracts-finder_record-like_nulls.json")
    release["buyer"] = release["tender"]["value"] = release["tender"]["tenderPeriod"] = None

    tender = normalize_release(release)

    assert (tender.buyer_name, tender.value_amount, tender.currency, tender.close_date) == (None, None, None, None)
    assert tender.status == "active"


def test_empty_strings_moldova():
    release = first_release("md-mtender_record-like_empty-strings.json")
    assert release["tender"]["value"] == {"amount": "", "currency": ""}

    tender = normalize_release(release)

    assert tender.value_amount is None
    assert tender.currency is None
    assert tender.status == "Executarea contractului"
    assert tender.release_date == datetime(2017, 1, 31, tzinfo=UTC)


def test_microsecond_timestamps_with_offsets_ukraine():
    tender = normalize_release(first_release("ua-prozorro_record-like_tender.json"))

    assert tender.release_date == datetime(2016, 11, 4, 21, 59, 24, 591355, tzinfo=timezone(timedelta(hours=2)))
    assert tender.close_date == datetime(2016, 6, 15, 7, 22, tzinfo=UTC)
    assert tender.value_amount == Decimal("3600.0")
    assert tender.title == "Профіль для стелі"
    assert tender.tender_number == "00002ae3465a48a6a4e6deb82ca09294"


def test_z_is_utc_for_publishers_other_than_etenders():
    tender = normalize_release(first_release("co-secop_record-like_awardCancellation.json"))

    assert tender.release_date == datetime(2016, 6, 30, 15, 39, 51, tzinfo=UTC)
    assert tender.close_date == datetime(2016, 7, 5, tzinfo=UTC)


def test_upper_case_ocid_prefix_is_kept_mexico_city():
    tender = normalize_release(first_release("mx-cdmx_release-package_2ocids-4releases.json"))

    assert tender.ocid == "OCDS-87SD3T-AD-SF-DRM-063-2015"
    assert tender.release_id == "01"
    assert tender.release_date == datetime(2015, 12, 22, tzinfo=timezone(timedelta(hours=-6)))
    assert tender.value_amount == Decimal("1311264.0")


def test_linked_release_without_ocid_is_refused_paraguay():
    linked = load("other-publishers/py-dncp_record-package_linked-releases.json")["records"][0]["releases"][0]
    assert set(linked) == {"date", "tag", "url"}

    with pytest.raises(NormalizationError, match="^release has no ocid$"):
        normalize_release(linked)


def test_release_without_date_is_refused(etenders_release):
    del etenders_release["date"]

    with pytest.raises(NormalizationError, match="^release ocds-9t57fa-165050 has no date$"):
        normalize_release(etenders_release)


def test_unparseable_dates_are_refused_naming_the_value(etenders_release):
    etenders_release["tender"]["tenderPeriod"]["endDate"] = "16/09/2026 11:00"

    with pytest.raises(NormalizationError) as refused:
        normalize_release(etenders_release)

    assert str(refused.value) == (
        "release ocds-9t57fa-165050: unparseable tender.tenderPeriod.endDate '16/09/2026 11:00'"
    )


@pytest.mark.parametrize("not_a_release", [None, "ocds-9t57fa-165050", ["release"]])
def test_non_object_release_is_refused(not_a_release):
    with pytest.raises(NormalizationError, match="release is not a JSON object"):
        normalize_release(not_a_release)


def test_naive_times_are_utc_unless_the_publisher_says_otherwise():
    portal_closing = load(PORTAL_ROWS_FILE)["data"][0]["closing_Date"]

    assert parse_datetime(portal_closing) == datetime(2025, 10, 13, 11, 0, tzinfo=UTC)
    assert parse_datetime(portal_closing, SAST) == datetime(2025, 10, 13, 11, 0, tzinfo=SAST)
