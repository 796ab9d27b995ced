"""The claim check: a run's tenders, enrichment items and results live in S3, keyed by execution."""

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tender_sync import aws
from tender_sync.errors import ArtifactMissing

PART_SIZE = 8 * 1024 * 1024  # S3 multipart parts must be at least 5 MiB (but the last).


def run_prefix(execution_id: str) -> str:
    """`runs/<state machine>/<execution name>/` from an execution ARN."""
    parts = execution_id.split(":")
    return f"runs/{parts[-2]}/{parts[-1]}/" if len(parts) >= 2 else f"runs/{execution_id}/"


class JsonLinesWriter:
    """Streams JSON lines to one S3 object by multipart upload, holding one part in memory."""

    def __init__(self, bucket: str, key: str, s3: Any = None) -> None:
        self.bucket, self.key = bucket, key
        self.s3 = s3 or aws.client("s3")
        self.buffer = bytearray()
        self.parts: list[dict[str, Any]] = []
        self.upload_id: str | None = None
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        self.buffer += json.dumps(record, default=str, separators=(",", ":")).encode() + b"\n"
        self.count += 1
        if len(self.buffer) >= PART_SIZE:
            self._upload_part()

    def _upload_part(self) -> None:
        if self.upload_id is None:
            self.upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self.parts) + 1
        response = self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=bytes(self.buffer)
        )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self.buffer.clear()

    def close(self) -> None:
        if self.upload_id is None:
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            return
        if self.buffer:
            self._upload_part()
        self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )

    def abort(self) -> None:
        if self.upload_id is not None:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


def get_object(bucket: str, key: str, s3: Any = None) -> Any:
    """The object's body; ArtifactMissing, naming it, when it is gone (expired before a late redrive)."""
    s3 = s3 or aws.client("s3")
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey:
        raise ArtifactMissing(
            f"s3://{bucket}/{key} is gone: a run's artifacts expire after artifactExpiryDays; start a new run"
        ) from None


def read_json_lines(bucket: str, key: str, s3: Any = None) -> Iterator[dict[str, Any]]:
    body = get_object(bucket, key, s3)
    for line in body.iter_lines():
        if line:
            yield json.loads(line)


def put_json(bucket: str, key: str, value: Any, s3: Any = None) -> None:
    body = json.dumps(value, default=str, separators=(",", ":")).encode()
    (s3 or aws.client("s3")).put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def get_json(bucket: str, key: str, s3: Any = None) -> Any:
    return json.loads(get_object(bucket, key, s3).read())


def read_all_json(bucket: str, prefix: str, s3: Any = None) -> list[Any]:
    """Every JSON object under a prefix, fetched in parallel."""
    s3 = s3 or aws.client("s3")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda key: get_json(bucket, key, s3), keys))
