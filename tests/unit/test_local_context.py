"""The stack's context on this machine: against the live sample source a new database's first window ends today."""

import json
from datetime import date, timedelta

from local.engine.run import local_context
from local.toolchain import ROOT
from tender_sync.models.jobs import Window
from tender_sync.storage.cursor import source_today

WINDOW_DAYS = json.loads((ROOT / "cdk.json").read_text())["context"]["windowDays"]


def test_against_the_live_sample_the_first_window_ends_today(monkeypatch):
    monkeypatch.delenv("SAMPLE_FIXED", raising=False)
    first = date.fromisoformat(local_context(source_given=False)["firstRunFrom"])
    window = Window(date_from=first, date_to=first + timedelta(days=WINDOW_DAYS))
    assert window.date_to == source_today() + timedelta(days=1)  # "to" is exclusive: today is its last day


def test_the_fixed_sample_and_a_real_source_keep_cdk_jsons_first_window(monkeypatch):
    monkeypatch.setenv("SAMPLE_FIXED", "1")
    assert local_context(source_given=False) == {}
    monkeypatch.delenv("SAMPLE_FIXED")
    assert local_context(source_given=True) == {}
