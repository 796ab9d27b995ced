"""The portal's names a subscription's filters take: those of data/ocds/etenders-za/, and every one the sample
source's rows carry."""

from local.sample_source.releases import load_portal_rows
from tender_sync.alerts.taxonomy import CATEGORIES, PROVINCES
from tests.helpers import load


def test_the_taxonomy_holds_the_portals_category_and_province_names():
    assert {row["name"] for row in load("etenders-za/portal_categories.json")} == CATEGORIES
    assert {row["name"] for row in load("etenders-za/portal_provinces.json")} == PROVINCES
    assert len(CATEGORIES) == 91 and "National" in PROVINCES


def test_every_category_and_province_of_the_sample_sources_rows_is_a_portal_name():
    rows = load_portal_rows()
    assert {row["category"] for row in rows} - CATEGORIES == set()
    assert {row["province"] for row in rows} - PROVINCES == set()
