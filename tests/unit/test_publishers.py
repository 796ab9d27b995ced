"""The publisher profiles and their lookups: by source name (the functions) and by ocid (a release)."""

import pytest

from tender_sync.source.publishers import ETENDERS, by_ocid, by_source


def test_a_function_finds_its_source_profile_by_name():
    assert by_source("etenders-za") is ETENDERS


def test_a_source_without_a_profile_is_refused_naming_the_known_ones():
    with pytest.raises(LookupError, match="no publisher profile for source 'nowhere' \\(known: etenders-za\\)"):
        by_source("nowhere")


def test_a_release_finds_its_publisher_by_ocid_prefix_in_any_case():
    assert by_ocid("ocds-9t57fa-134030") is ETENDERS
    assert by_ocid("OCDS-9T57FA-1") is ETENDERS
    assert by_ocid("OCDS-87SD3T-AD-SF-DRM-063-2015") is None
    assert by_ocid("ocds-9t57fa") is None


def test_the_etenders_portal_row_of_a_tender_is_its_ocid_suffix():
    assert ETENDERS.portal_row_id("ocds-9t57fa-134030") == "134030"
