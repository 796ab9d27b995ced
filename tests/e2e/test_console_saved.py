"""The console lists and opens the executions run outside its make up (by `make run`, the CLI's `start`), from the
histories they saved: here a real cleanup run by run_workflow, as `make run` and the CLI run one."""

import html
import io
import json

import pytest

from local.engine import run
from local.engine.stack import LocalStack, function_environment
from local.up.alerts import ExecutionWatcher
from local.up.console import pages
from local.up.console.server import Console
from local.up.resources import LocalResources
from local.up.schedules import Scheduler
from tender_sync.workflows import CLEANUP, SYNC

pytestmark = pytest.mark.slow


def executions(console: Console, filters: pages.Filters) -> str:
    """The overview's executions section, as `filters` filter it."""
    return console.overview(filters).split("<h2>Executions</h2>")[1].split("</section>")[0]


def test_a_saved_execution_is_listed_filtered_and_opened_read_only(
    template, database_url, sample_source, tmp_path, monkeypatch
):
    monkeypatch.setattr(run, "EXECUTIONS_DIR", tmp_path)
    execution, job, _ = run.run_workflow(
        CLEANUP,
        {"triggeredBy": "make run"},
        template,
        database_url,
        sample_source.url,
        sample_source.url,
        io.StringIO(),
    )
    assert execution.status == "SUCCEEDED" and job is not None
    name = execution.arn.rsplit(":", 1)[-1]
    saved = json.loads((tmp_path / f"{name}.json").read_text())
    assert saved["executionArn"] == execution.arn
    # A history saved before the ARN was kept: its history alone, still read (by `timeline` too).
    (tmp_path / "old-run.json").write_text(json.dumps(saved["history"]))
    assert run.saved_history("old-run") == saved["history"]
    (tmp_path / "broken.json").write_text("{")

    environment = function_environment(database_url, sample_source.url, sample_source.url)
    with LocalStack(template, environment) as local:
        watcher = ExecutionWatcher(local, LocalResources(local, "TenderSync", database_url))
        console = Console(local, database_url, watcher, Scheduler(local), 0)
        try:
            cleanup = local.state_machines[CLEANUP.state_machine_id(template)]
            overview = console.overview(pages.Filters())
            # A file that cannot be read is named; the rest are listed.
            assert 'data-part="some saved histories"' in overview and "broken.json (JSONDecodeError" in overview
            row = next(row for row in overview.split("<tr>") if name in row and "/execution?" in row)
            assert all(part in row for part in ("run outside make up", "cleanup", "SUCCEEDED", "make run"))
            assert "old-run" in overview
            # Filtered as this make up's own: by its state machine and its status.
            assert name in executions(console, pages.Filters(machine=cleanup, status="SUCCEEDED"))
            assert name not in executions(console, pages.Filters(status="FAILED"))
            sync = local.state_machines[SYNC.state_machine_id(template)]
            assert name not in executions(console, pages.Filters(machine=sync))
            # job_log's execution id links to it.
            assert pages.execution_url(execution.arn).replace("&", "&amp;") in overview.split("<h2>Database")[1]

            page = console.execution(execution.arn)
            assert page is not None and 'class="unavailable"' not in page
            assert f".local/executions/{name}.json" in page
            assert 'data-state="CleanupJobs" data-outcome="succeeded"' in page
            assert 'class="edge next taken"' in page
            assert 'id="stop"' not in page and 'id="restart"' not in page
            facts = html.unescape(page.split('<dl class="facts">')[1].split("</dl>")[0])
            assert "trigger" in facts and "make run" in facts and '"cleanup": {' in facts  # its output's counts
            assert 'id="state-CleanupJobs"' in page and "ExecutionSucceeded" in page
            assert console.execution(name) == page

            old = console.execution("old-run")
            assert old is not None and 'data-part="the graph"' in old
            assert "its history was saved without its ARN" in old and "CleanupJobs" in old
            assert console.execution(f"{execution.arn}-none") is None
            assert console.execution("../../etc/passwd") is None
        finally:
            console.stop()
