"""parse_release_package on real response bodies: charsets, truncation, error bodies."""

import pytest

from local.sample_source.releases import sample_data_dir
from tender_sync.errors import BadSourceData
from tender_sync.source.ocds_client import parse_release_package


def body_of(name: str) -> bytes:
    return (sample_data_dir() / "other-publishers" / name).read_bytes()


def test_utf8_package_without_a_charset():
    package = parse_release_package(body_of("mx-cdmx_release-package_2ocids-4releases.json"), "application/json")

    assert len(package["releases"]) == 4
    assert package["releases"][0]["tender"]["title"] == "ARRENDAMIENTO DE BIENES INFORMÁTICOS"


def test_iso_8859_1_package_is_decoded_with_its_charset():
    body = body_of("mx-cdmx_release-package_iso-8859-1.json")

    package = parse_release_package(body, "application/json; charset=ISO-8859-1")

    assert [release["id"] for release in package["releases"]] == ["01", "02", "03"]
    assert package["releases"][0]["tender"]["title"] == "MANTENIMIENTO A MÁQUINA CORTADORA"


def test_iso_8859_1_bytes_without_a_charset_are_bad_source_data():
    with pytest.raises(BadSourceData, match="not valid utf-8"):
        parse_release_package(body_of("mx-cdmx_release-package_iso-8859-1.json"), "application/json")


def test_truncated_json_is_bad_source_data():
    body = body_of("mx-cdmx_release-package_2ocids-4releases.json")

    with pytest.raises(BadSourceData, match="not valid JSON.*truncated"):
        parse_release_package(body[: len(body) // 2], "application/json; charset=utf-8")


def test_concatenated_packages_are_bad_source_data():
    with pytest.raises(BadSourceData, match="Extra data"):
        parse_release_package(body_of("mx-cdmx_release-packages_concatenated.jsonl"), "application/json")


@pytest.mark.parametrize(
    "error_body",
    [b'{"error": "PageSize must be at most 1000"}', b'{"message": "An error has occurred."}'],
)
def test_error_body_sent_with_http_200_is_bad_source_data(error_body):
    with pytest.raises(BadSourceData, match="has no releases") as refused:
        parse_release_package(error_body, "application/json")

    assert error_body.decode() in str(refused.value)


def test_record_package_is_not_a_release_package():
    with pytest.raises(BadSourceData, match="has no releases"):
        parse_release_package(body_of("mx-apf_record-package_2records.json"), None)


def test_json_that_is_not_an_object_is_bad_source_data():
    with pytest.raises(BadSourceData, match="JSON list"):
        parse_release_package(b'[{"ocid": "ocds-9t57fa-165050"}]', "application/json")
