"""AWS's Distributed Map limits, checked locally where moto is lenient: what a Map gathers from its children
(256 KiB without a ResultWriter, uncaught on AWS), and a child that fails outright (tolerated, as on AWS)."""

import copy
import json
from typing import Any

import pytest

from local.engine.stack import QuotaExceeded, map_child_ends
from local.engine.template import definition
from local.sample_source.server import SampleSource
from tender_sync.workflows import SYNC
from tests.helpers.local_stack import Sync, local_sync

pytestmark = pytest.mark.slow

PADDING = "x" * 3000


def with_children_echoing_their_input(template: dict[str, Any]) -> dict[str, Any]:
    """The template as it was before this stack's children output nothing: each child's output its input (here
    padded to 3 KB an item), one tender a batch."""
    echoing = copy.deepcopy(template)
    for resource in echoing["Resources"].values():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if "LOOKUP_BATCH_SIZE" in variables:
            variables["LOOKUP_BATCH_SIZE"] = "1"
    state_machine = echoing["Resources"][SYNC.state_machine_id(echoing)]["Properties"]["DefinitionString"]
    parts = state_machine["Fn::Join"][1]
    for n, part in enumerate(parts):
        if isinstance(part, str):
            part = part.replace('"ResultPath":"$"', '"ResultPath":null')
            parts[n] = part.replace('"secondsBetweenLookups":', f'"padding":"{PADDING}","secondsBetweenLookups":')
    return echoing


def test_every_map_child_outputs_its_lambdas_result_which_is_nothing(template):
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            ends = map_child_ends(json.loads(definition(template, logical_id)))
            assert set(ends.values()) <= {"$"}, logical_id


@pytest.mark.xdist_group("scale")
def test_a_map_gathering_more_than_256_kib_fails_the_local_run_as_it_would_on_aws(template, database_url):
    echoing = with_children_echoing_their_input(template)
    with SampleSource(count=200) as source:
        with local_sync(echoing, database_url, source.url, source.url) as local:
            sync = Sync(local, echoing, database_url)
            # 100 lookups in batches of one: 100 children of about 3 KB each.
            with pytest.raises(QuotaExceeded, match="gathered .* bytes of its children's output"):
                sync.run(**{"from": "2025-09-01", "to": "2025-10-01"})

        with local_sync(template, database_url, source.url, source.url) as local:
            execution = Sync(local, template, database_url).run(**{"from": "2025-09-01", "to": "2025-10-01"})
    assert execution.status == "SUCCEEDED", execution.cause
