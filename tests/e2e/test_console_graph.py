"""The console's graph of every state machine in the synthesized template: each edge drawn, and none under a box."""

import itertools
import json
from typing import Any

import pytest

from local.engine.template import definition
from local.up.console.graph import Layout, layout

# The template is synthesized (once per worker).
pytestmark = pytest.mark.slow


def state_machines(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: json.loads(definition(template, logical_id))
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    }


def under_a_box(drawn: Layout) -> list[tuple[str, str, str]]:
    """(edge from, edge to, box) for each edge with a segment inside a box (its border may be touched), in this
    layout and in each Map's."""
    found = []
    for (source, target, _), route in drawn.routes.items():
        for (x1, y1), (x2, y2) in itertools.pairwise(route):
            assert x1 == x2 or y1 == y2, f"{source} -> {target}: every segment runs across or down"
            found += [
                (source, target, box.name)
                for box in drawn.boxes.values()
                if min(x1, x2) < box.x + box.width
                and max(x1, x2) > box.x
                and min(y1, y2) < box.y + box.height
                and max(y1, y2) > box.y
            ]
    for box in drawn.boxes.values():
        if box.inner:
            found += under_a_box(box.inner)
    return found


def test_every_edge_is_drawn_and_none_runs_under_a_box(template):
    machines = state_machines(template)
    assert machines
    for name, machine in machines.items():
        drawn = layout(machine)
        states = machine["States"]
        assert under_a_box(drawn) == [], name
        expected = {
            (source, target)
            for source, state in states.items()
            for target in [
                *(choice["Next"] for choice in state.get("Choices", [])),
                *(state[key] for key in ("Next", "Default") if key in state),
                *(catcher["Next"] for catcher in state.get("Catch", [])),
            ]
        }
        assert {(source, target) for source, target, _ in drawn.routes} == expected, name
        assert all(len(route) >= 2 for route in drawn.routes.values()), name


def test_the_syncs_skip_branches_run_beside_the_states_they_skip(template):
    [sync] = [machine for name, machine in state_machines(template).items() if name.startswith("SyncWorkflow")]
    drawn = layout(sync)
    left = min(box.x for box in drawn.boxes.values())
    for source, target in (("AnythingToLookUp?", "PrepareChanges"), ("AnythingToAnnounce?", "FinishJob")):
        assert min(x for x, _ in drawn.routes[(source, target, "next")]) < left, f"{source} -> {target}"
