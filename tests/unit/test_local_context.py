"""The stack's context on this machine: against the live sample source a new database starts ten windows back, so
that each of its first runs catches up a window and the tenth reaches today."""

import json
from datetime import date, timedelta

from local.engine.run import CATCH_UP_WINDOWS, local_context
from local.toolchain import ROOT
from tender_sync.storage.cursor import source_today

WINDOW_DAYS = json.loads((ROOT / "cdk.json").read_text())["context"]["windowDays"]


def test_against_the_live_sample_the_first_runs_catch_up_to_today(monkeypatch):
    monkeypatch.delenv("SAMPLE_FIXED", raising=False)
    first = date.fromisoformat(local_context(source_given=False)["firstRunFrom"])
    # "to" is exclusive: the last catching-up window's last day is today.
    assert first + timedelta(days=WINDOW_DAYS * CATCH_UP_WINDOWS) == source_today() + timedelta(days=1)


def test_the_fixed_sample_and_a_real_source_keep_cdk_jsons_first_window(monkeypatch):
    monkeypatch.setenv("SAMPLE_FIXED", "1")
    assert local_context(source_given=False) == {}
    monkeypatch.delenv("SAMPLE_FIXED")
    assert local_context(source_given=True) == {}
