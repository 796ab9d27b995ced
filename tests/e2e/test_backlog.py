"""Every tender enriched, eventually: a busy window synced again and again, as the schedule would, leaves no
tender the portal lists without its category within ceil(lookups / cap) + 1 runs, and no run looks up a tender
that is already enriched."""

import json
import math
from datetime import date, timedelta

import pytest

from local.engine.template import LOCAL_BUCKET
from local.sample_source.server import SampleSource
from tests.helpers import not_none
from tests.helpers.local_stack import Sync, local_sync

pytestmark = pytest.mark.slow

TENDERS, CAP = 3_000, 300  # cdk.json's maxEnrichment


@pytest.mark.xdist_group("scale")
def test_a_busy_window_is_enriched_within_its_lookups_over_the_cap_plus_one_runs(template, database_url):
    with SampleSource(days=3, count=TENDERS) as source:
        days = sorted({release["date"][:10] for release in source.releases})
        window = {"from": days[0], "to": (date.fromisoformat(days[-1]) + timedelta(days=1)).isoformat()}
        with local_sync(template, database_url, source.url, source.url) as local:
            sync = Sync(local, template, database_url)
            runs, looked_up_twice, enriched_when_looked_up = 0, set(), set()
            looked_up: set[str] = set()
            while True:
                enriched = {
                    r["ocid"] for r in sync.query("SELECT ocid FROM tenders WHERE enrichment_status = 'enriched'")
                }
                if len(enriched) == TENDERS or runs > 10:
                    break
                execution = sync.run(**window)
                runs += 1
                assert execution.status == "SUCCEEDED", execution.cause
                plan = not_none(execution.output)["lookups"]
                batches = json.loads(local.s3.get_object(Bucket=LOCAL_BUCKET, Key=plan["itemsKey"])["Body"].read())
                ocids = {tender["ocid"] for batch in batches for tender in batch["tenders"]}
                assert len(ocids) == plan["tenders"] <= CAP
                looked_up_twice |= ocids & looked_up
                enriched_when_looked_up |= ocids & enriched
                looked_up |= ocids

    needing_the_portal = TENDERS // 2  # the older release shape, without its category
    assert runs <= math.ceil(needing_the_portal / CAP) + 1
    assert len(enriched) == TENDERS and len(looked_up) == needing_the_portal
    assert not enriched_when_looked_up and not looked_up_twice
    [job] = sync.query("SELECT lookups, lookups_per_second FROM job_log ORDER BY id DESC LIMIT 1")
    assert job["lookups"] == needing_the_portal - (runs - 1) * CAP and job["lookups_per_second"] > 0
