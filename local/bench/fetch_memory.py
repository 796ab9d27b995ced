"""The FetchReleases handler's peak memory: one real fetch of a window into S3 (moto, in this process),
then the counts and this process's peak RSS as one JSON line on stdout.

`make bench` runs this in a fresh interpreter of its own, so the figure is the handler's and not the
benchmark's. Usage: python -m local.bench.fetch_memory OCDS_URL FROM TO (dates YYYY-MM-DD, TO exclusive).

moto's S3 shares the process, and it assembles a multipart object in memory when its upload completes,
a cost that S3 never puts on the Lambda: the peak just before that is reported too.
"""

import json
import os
import sys
from collections.abc import Iterator
from unittest import mock

import boto3
from moto import mock_aws
from moto.s3.models import FakeMultipart

from local.engine.stack import LambdaContext

REGION = "us-east-1"
BUCKET = "fetch-memory"

# Set before the handler module is imported (in measure): its Logger reads the level once.
os.environ.update(
    AWS_DEFAULT_REGION=REGION, BUCKET_NAME=BUCKET, SOURCE_NAME="etenders-za", POWERTOOLS_LOG_LEVEL="WARNING"
)


def measure(ocds_url: str, date_from: str, date_to: str) -> dict[str, int | None]:
    os.environ.update(OCDS_BASE_URL=ocds_url, PORTAL_BASE_URL=ocds_url)
    # Imported here, as Lambda starts it cold: the handler reads its settings at import.
    from tender_sync.handlers import fetch_releases

    before_assembly: list[int] = []
    complete = FakeMultipart.complete

    def complete_noting_peak(
        upload: FakeMultipart, body: Iterator[tuple[int, str]]
    ) -> tuple[bytes, str, tuple[str, str, int] | None]:
        before_assembly.append(peak_rss_bytes())
        return complete(upload, body)

    with mock_aws(), mock.patch.object(FakeMultipart, "complete", complete_noting_peak):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        job = {
            "workflow": "sync",
            "jobId": 1,
            "executionId": f"arn:aws:states:{REGION}:123456789012:execution:Sync:fetch-memory",
            "window": {"from": date_from, "to": date_to},
        }
        summary = fetch_releases.handler({"job": job}, LambdaContext("FetchReleases", timeout_seconds=600))
        tenders_bytes = s3.head_object(Bucket=BUCKET, Key=summary["tendersKey"])["ContentLength"]
    return {
        "fetched": summary["fetched"],
        "tenders": summary["tenders"],
        "tendersBytes": tenders_bytes,
        "peakRssBytes": peak_rss_bytes(),
        "peakRssBeforeAssemblyBytes": before_assembly[0] if before_assembly else None,
    }


def peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: Linux carries that over
    from the parent through fork and exec, so a child of a big parent would report the parent's size."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


if __name__ == "__main__":
    print(json.dumps(measure(*sys.argv[1:4])))
