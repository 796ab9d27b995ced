"""FetchReleases' staging: every release of the window lands in S3, as a tender or in quarantine."""

from typing import Any

import boto3
import pytest
from moto import mock_aws

from tender_sync.source.staging import stage_releases
from tender_sync.storage.artifacts import read_json_lines
from tests.helpers import load

BUCKET = "artifacts"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def etenders_release() -> dict[str, Any]:
    return load("etenders-za/ocds_release_ocds-9t57fa-165050_2026-08-14.json")["release"]


def old_shape(release: dict[str, Any], ocid: str, day: str) -> dict[str, Any]:
    tender = {k: v for k, v in release["tender"].items() if k not in {"category", "province", "contactPerson"}}
    return {**release, "ocid": ocid, "id": f"{ocid}-{day}", "date": f"{day}T00:00:00Z", "tender": tender}


def test_releases_become_tenders_and_quarantine(s3, caplog):
    release = etenders_release()
    releases = [
        release,
        old_shape(release, "ocds-9t57fa-2", "2026-08-10"),
        old_shape(release, "ocds-9t57fa-2", "2026-08-12"),  # newer release of the same ocid
        {**release, "ocid": None},  # cannot be normalized
    ]

    summary = stage_releases(iter(releases), BUCKET, "runs/x/")

    assert (summary.fetched, summary.tenders, summary.quarantined) == (4, 2, 1)
    assert [t["ocid"] for t in read_json_lines(BUCKET, summary.tendersKey)] == [
        "ocds-9t57fa-165050",
        "ocds-9t57fa-2",
        "ocds-9t57fa-2",
    ]
    [quarantined] = read_json_lines(BUCKET, summary.quarantineKey)
    assert quarantined["reason"] == "release has no ocid"
    assert quarantined["release"]["id"] == release["id"]
    assert "release quarantined" in caplog.text


def test_a_large_window_streams_to_s3_in_parts(s3):
    release = etenders_release()
    padding = "x" * 20_000
    releases = ({**old_shape(release, f"ocds-9t57fa-{n}", "2026-08-01"), "description": padding} for n in range(600))
    summary = stage_releases(releases, BUCKET, "runs/x/")
    head = s3.head_object(Bucket=BUCKET, Key=summary.tendersKey)
    assert "-" in head["ETag"].strip('"')  # a multipart upload
    assert sum(1 for _ in read_json_lines(BUCKET, summary.tendersKey)) == 600
