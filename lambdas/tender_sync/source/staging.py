"""Read a window of releases from the source and put them in S3: the claim check for the run."""

from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from tender_sync.source.cleaning import storable
from tender_sync.source.normalize import NormalizationError, cut, normalize_release
from tender_sync.storage.artifacts import JsonLinesWriter

logger = Logger(child=True)


class FetchSummary(BaseModel):
    bucket: str
    tendersKey: str
    quarantineKey: str
    fetched: int
    tenders: int
    quarantined: int
    cleaned: int = 0


def stage_releases(
    releases: Iterable[dict[str, Any]], bucket: str, prefix: str, ocid_prefix: str | None = None
) -> FetchSummary:
    """Clean and normalize each release as it streams in: tenders go to `tenders.jsonl`, releases that cannot be
    normalized (an ocid without the source's ocid_prefix among them) to `quarantine.jsonl`. Values PostgreSQL
    refuses are cleaned first (tender_sync.storable), so neither file holds one."""
    tenders = JsonLinesWriter(bucket, f"{prefix}tenders.jsonl")
    quarantine = JsonLinesWriter(bucket, f"{prefix}quarantine.jsonl")
    ocids: set[str] = set()
    fetched = cleaned = 0
    try:
        for published in releases:
            fetched += 1
            release, cleaning = storable(published)
            ocid = release.get("ocid") if isinstance(release, dict) else None
            if cleaning:
                cleaned += 1
                logger.warning("release cleaned", extra={"ocid": _shown(ocid), "cleaned": sorted(cleaning)})
            try:
                tender = normalize_release(release, ocid_prefix)
            except NormalizationError as error:
                logger.warning("release quarantined", extra={"ocid": _shown(ocid), "reason": str(error)})
                quarantine.write({"ocid": ocid, "reason": str(error), "release": release})
                continue
            tenders.write(tender.model_dump(mode="json"))
            ocids.add(tender.ocid)
        tenders.close()
        quarantine.close()
    except BaseException:
        tenders.abort()
        quarantine.abort()
        raise
    return FetchSummary(
        bucket=bucket,
        tendersKey=tenders.key,
        quarantineKey=quarantine.key,
        fetched=fetched,
        tenders=len(ocids),
        quarantined=quarantine.count,
        cleaned=cleaned,
    )


def _shown(ocid: Any) -> Any:
    return cut(ocid) if isinstance(ocid, str) else ocid
