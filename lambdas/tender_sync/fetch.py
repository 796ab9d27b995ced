"""Read a window of releases from the source and put them in S3: the claim check for the run."""
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from tender_sync.artifacts import JsonLinesWriter, put_json
from tender_sync.normalize import NormalizationError, cut, normalize_release
from tender_sync.storable import storable

logger = Logger(child=True)


class FetchSummary(BaseModel):
    bucket: str
    tendersKey: str
    itemsKey: str
    quarantineKey: str
    resultsPrefix: str
    fetched: int
    tenders: int
    toEnrich: int
    quarantined: int
    cleaned: int = 0


def stage_releases(
    releases: Iterable[dict[str, Any]], bucket: str, prefix: str, max_enrichment: int, ocid_prefix: str | None = None
) -> FetchSummary:
    """Clean and normalize each release as it streams in: tenders go to `tenders.jsonl`, releases that cannot be
    normalized (an ocid without the source's ocid_prefix among them) to `quarantine.jsonl`, and the newest
    tenders still lacking a detailed category (up to max_enrichment) become the enrichment Map's items.
    Values PostgreSQL refuses are cleaned first (tender_sync.storable), so neither file holds one."""
    tenders = JsonLinesWriter(bucket, f"{prefix}tenders.jsonl")
    quarantine = JsonLinesWriter(bucket, f"{prefix}quarantine.jsonl")
    newest: dict[str, tuple[str, str, dict[str, Any] | None]] = {}
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
            key = (tender.release_date.isoformat(), tender.release_id)
            if tender.ocid not in newest or key > newest[tender.ocid][:2]:
                item = {"ocid": tender.ocid, "tenderNumber": tender.tender_number}
                newest[tender.ocid] = (*key, item if tender.enrichment_status == "pending" else None)
        tenders.close()
        quarantine.close()
    except BaseException:
        tenders.abort()
        quarantine.abort()
        raise

    # Newest releases first, so a capped run enriches the freshest tenders.
    wanted = sorted((v for v in newest.values() if v[2] is not None), key=lambda v: v[:2], reverse=True)
    items = [item for *_, item in wanted[:max_enrichment]]
    put_json(bucket, f"{prefix}enrich-items.json", items)
    return FetchSummary(
        bucket=bucket,
        tendersKey=tenders.key,
        itemsKey=f"{prefix}enrich-items.json",
        quarantineKey=quarantine.key,
        resultsPrefix=f"{prefix}enrichment/",
        fetched=fetched,
        tenders=len(newest),
        toEnrich=len(items),
        quarantined=quarantine.count,
        cleaned=cleaned,
    )


def _shown(ocid: Any) -> Any:
    return cut(ocid) if isinstance(ocid, str) else ocid
