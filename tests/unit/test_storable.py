"""Values JSON carries but PostgreSQL refuses, on a real eTenders release: each class cleaned or quarantined."""

import copy
import json
import math
from typing import Any

import pytest

from tender_sync.source.cleaning import storable
from tender_sync.source.normalize import NormalizationError, normalize_release
from tests.helpers import load

PREFIX = "ocds-9t57fa"


@pytest.fixture
def release() -> dict[str, Any]:
    return load("etenders-za/ocds_release_ocds-9t57fa-165050_2026-08-14.json")["release"]


def published(document_text: str) -> dict[str, Any]:
    """A release as Python's JSON reader hands it over from a publisher's bytes."""
    return json.loads(document_text)


def test_nul_characters_are_removed_at_any_depth_keys_included(release):
    release["tender"]["description"] = "Refurbishment of\u0000 the sewer line"
    release["tender"]["briefingSession"]["venue"] = "Boardroom 3\x00 "
    release["tender"]["documents"] = [{"id": "1", "title": "BOQ\u0000.pdf", "extra\u0000key": True}]
    document = published(json.dumps(release))

    cleaned, kinds = storable(document)

    assert kinds == {"NUL"}
    assert "\x00" not in json.dumps(cleaned, ensure_ascii=False)
    assert cleaned["tender"]["description"] == "Refurbishment of the sewer line"
    assert cleaned["tender"]["documents"] == [{"id": "1", "title": "BOQ.pdf", "extrakey": True}]
    tender = normalize_release(cleaned, PREFIX)
    assert tender.title == "Refurbishment of the sewer line" and tender.raw == cleaned


def test_lone_surrogates_become_the_replacement_character_and_valid_pairs_are_kept(release):
    text = json.dumps(release).replace('"Sewerage"', '"Sewer\\ud800age \\ud83d\\ude9c"')
    cleaned, kinds = storable(published(text))

    assert kinds == {"invalid Unicode"}
    assert cleaned["tender"]["category"] == "Sewer\ufffdage \U0001f69c"
    json.dumps(cleaned, ensure_ascii=False).encode("utf-8")  # encodable as UTF-8 now


@pytest.mark.parametrize("amount", ["1e999999", 1e999999, "NaN", float("nan"), "-Infinity", "1e18", 10**30])
def test_an_amount_that_does_not_fit_the_column_is_stored_empty(release, amount):
    release["tender"]["value"]["amount"] = amount
    cleaned, _ = storable(release)

    tender = normalize_release(cleaned, PREFIX)

    assert tender.value_amount is None and tender.ocid == "ocds-9t57fa-165050"
    if isinstance(amount, float) and not math.isfinite(amount):
        assert cleaned["tender"]["value"]["amount"] is None  # jsonb has no NaN or Infinity


def test_a_reasonable_amount_is_kept_and_a_needlessly_precise_one_rounded(release):
    release["tender"]["value"]["amount"] = "2500000.50"
    assert str(normalize_release(release, PREFIX).value_amount) == "2500000.50"
    release["tender"]["value"]["amount"] = "1e-999999"
    assert str(normalize_release(release, PREFIX).value_amount) == "0.000000"


@pytest.mark.parametrize(
    ("ocid", "reason"),
    [
        ("ocds-9t57fa-165050/../../runs", "holds whitespace, a control character or a path separator"),
        ("ocds-9t57fa-165 050", "holds whitespace"),
        ("ocds-9t57fa-165\u2028050", "holds whitespace"),
        ("ocds-9t57fa-\x07165050", "a control character"),
        ("ocds-9t57fa-" + "1" * 200, "is longer than 120 characters"),
        ("ocds-b5fd17-165050", "does not start with this source's prefix ocds-9t57fa-"),
        ("165050", "is not prefix-publisher-id shaped"),
    ],
)
def test_a_malformed_ocid_is_refused_before_it_becomes_a_key(release, ocid, reason):
    release["ocid"] = ocid
    with pytest.raises(NormalizationError, match="malformed ocid") as raised:
        normalize_release(release, PREFIX)
    assert reason in str(raised.value)
    assert len(str(raised.value)) < 250  # the echoed value is cut


def test_other_publishers_keep_their_own_prefix_when_no_source_prefix_is_asked(release):
    mexico = copy.deepcopy(release) | {"ocid": "OCDS-87SD3T-AD-SF-DRM-063-2015"}
    assert normalize_release(mexico).ocid == "OCDS-87SD3T-AD-SF-DRM-063-2015"
    assert normalize_release(copy.deepcopy(release) | {"ocid": "OCDS-9T57FA-1"}, PREFIX).ocid == "OCDS-9T57FA-1"


def test_an_unparseable_value_is_echoed_cut_in_the_reason(release):
    release["tender"]["tenderPeriod"]["endDate"] = "soon" * 1000
    with pytest.raises(NormalizationError) as raised:
        normalize_release(release, PREFIX)
    assert len(str(raised.value)) < 250
