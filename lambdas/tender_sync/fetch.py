"""Read a window of releases from the source and put them in S3: the claim check for the run."""
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from tender_sync.artifacts import JsonLinesWriter, put_json
from tender_sync.normalize import NormalizationError, normalize_release

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


def stage_releases(releases: Iterable[dict[str, Any]], bucket: str, prefix: str, max_enrichment: int) -> FetchSummary:
    """Normalize each release as it streams in: tenders go to `tenders.jsonl`, releases that cannot be
    normalized to `quarantine.jsonl`, and the newest tenders still lacking a detailed category (up to
    max_enrichment) become the enrichment Map's items."""
    tenders = JsonLinesWriter(bucket, f"{prefix}tenders.jsonl")
    quarantine = JsonLinesWriter(bucket, f"{prefix}quarantine.jsonl")
    newest: dict[str, tuple[str, str, dict[str, Any] | None]] = {}
    fetched = 0
    try:
        for release in releases:
            fetched += 1
            try:
                tender = normalize_release(release)
            except NormalizationError as error:
                ocid = release.get("ocid") if isinstance(release, dict) else None
                logger.warning("release quarantined", extra={"ocid": ocid, "reason": str(error)})
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
    )
