"""The console of `make up` in a real browser: Debian's headless Chromium, driven by Selenium through Debian's
chromedriver (never a browser or driver downloaded by a tool). Where Chromium is missing the test is skipped,
saying so; under CI (CI=true) it fails instead."""

import io
import itertools
import json
import os
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import psycopg
import pytest

from local.engine import run
from local.engine.database import fresh_database
from local.engine.stack import LocalStack, function_environment
from local.up.alerts import ExecutionWatcher
from local.up.console.pages import PAGE_SIZE
from local.up.console.server import Console
from local.up.resources import LocalResources
from local.up.schedules import Scheduler
from tender_sync.workflows import CLEANUP, WORKFLOWS
from tests.helpers.local_up import RunningUp, running_up

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MISSING = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
# A state machine of one Pass state: its output is its input.
ECHO = json.dumps({"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}})
ROLE = "arn:aws:iam::123456789012:role/local"

# Chromium, and `make up` in a process of its own, running whole executions; in one worker with test_up.py's.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("up")]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if MISSING:
        message = (
            f"the console's browser test needs Debian's chromium and chromium-driver; missing: "
            f"{', '.join(MISSING)} (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1200",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def up(server_url: str) -> Iterator[RunningUp]:
    with fresh_database(server_url) as database_url, running_up(database_url) as running:
        yield running


def query(up: RunningUp, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(up.database_url) as conn:
        return conn.execute(sql, params).fetchall()


def state_machine(up: RunningUp, workflow: str) -> str:
    outputs = up.client("cloudformation").describe_stacks(StackName="TenderSync")["Stacks"][0]["Outputs"]
    return next(o["OutputValue"] for o in outputs if o["OutputKey"] == WORKFLOWS[workflow].stack_output)


def page_of(up: RunningUp, arn: str) -> str:
    return f"{up.console}execution?arn={quote(arn, safe='')}"


def arn_in(url: str) -> str:
    return parse_qs(urlsplit(url).query)["arn"][0]


def wait(browser, seconds: float, condition) -> Any:
    """What `condition` gives once it gives something, read again past a page refreshed under it."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = [NoSuchElementException, StaleElementReferenceException]
    return WebDriverWait(browser, seconds, poll_frequency=0.2, ignored_exceptions=ignored).until(condition)


def text(browser, css: str) -> str:
    """The text of the first element `css` selects, read again if the page refreshed under it."""
    from selenium.webdriver.common.by import By

    return str(wait(browser, 5, lambda b: [b.find_element(By.CSS_SELECTOR, css).text])[0])


def outcomes(browser) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    return {
        g.get_attribute("data-state"): g.get_attribute("data-outcome")
        for g in browser.find_elements(By.CSS_SELECTOR, "svg.graph g.state")
    }


def taken_edges(browser) -> set[tuple[str, str]]:
    from selenium.webdriver.common.by import By

    return {
        (path.get_attribute("data-from"), path.get_attribute("data-to"))
        for path in browser.find_elements(By.CSS_SELECTOR, "svg.graph path.edge.taken")
    }


def fits(browser) -> bool:
    """Nothing on the page is wider than the window, nor than the section holding it (a section scrolls what is
    wider, in a window narrower than this test's)."""
    return bool(
        browser.execute_script(
            "const wider = (e) => e.scrollWidth > e.clientWidth;"
            "return !wider(document.documentElement) && ![...document.querySelectorAll('section')].some(wider)"
        )
    )


def pick_state(browser, name: str) -> Any:
    """Clicks the state in the graph: its details, shown beside it."""
    from selenium.webdriver.common.by import By

    box = f'svg.graph g.state[data-state="{name}"] rect'
    wait(browser, 5, lambda b: b.find_element(By.CSS_SELECTOR, box).click() or True)
    return wait(
        browser,
        5,
        lambda b: b.find_element(By.ID, f"state-{name}").is_displayed() and b.find_element(By.ID, f"state-{name}"),
    )


def test_a_sync_started_from_its_form_runs_before_the_readers_eyes(browser, up):
    from selenium.webdriver.common.by import By

    browser.get(up.console)
    form = browser.find_element(By.ID, "start-sync")
    form.find_element(By.NAME, "from").send_keys("09/01/2025")  # a date input takes the date as the locale types it
    form.find_element(By.NAME, "to").send_keys("09/08/2025")
    form.find_element(By.NAME, "triggeredBy").send_keys("console")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    wait(browser, 5, lambda b: "/execution?arn=" in b.current_url)
    execution = arn_in(browser.current_url)
    # It runs: the page says so and refreshes itself in place (the same document throughout), the state picked in
    # the graph staying picked, until the first page that says SUCCEEDED, which refreshes no more.
    assert text(browser, "dl.facts .status") == "RUNNING"
    assert browser.find_element(By.CSS_SELECTOR, "body[data-refresh]")
    browser.execute_script("window.sameDocument = true")
    pick_state(browser, "StartJob")
    wait(browser, 90, lambda b: text(b, "dl.facts .status") == "SUCCEEDED")
    assert browser.execute_script("return window.sameDocument") is True
    assert browser.find_elements(By.CSS_SELECTOR, "body[data-refresh]") == []

    seen = outcomes(browser)
    path = [
        "StartJob",
        "LeaseHeld?",
        "FetchReleases",
        "UpsertTenders",
        "PlanLookups",
        "AnythingToLookUp?",
        "WaitForPortal",
        "LookUpTenders",
        "StoreLookups",
        "PrepareChanges",
        "AnythingToAnnounce?",
        "PublishChanges",
        "RecordPublished",
        "FinishJob",
        "SyncSucceeded",
    ]
    assert {state: seen[state] for state in path} == dict.fromkeys(path, "succeeded")
    assert {seen["FailJob"], seen["SyncFailed"], seen["SkippedAnotherRunActive"]} == {"not-reached"}
    # The way it went is marked, edge by edge; the branches it skipped are drawn, unmarked.
    assert taken_edges(browser) == set(itertools.pairwise(path))
    for skip in (("AnythingToLookUp?", "PrepareChanges"), ("AnythingToAnnounce?", "FinishJob")):
        assert browser.find_element(By.CSS_SELECTOR, f'path.edge[data-from="{skip[0]}"][data-to="{skip[1]}"]')

    # The state picked while it ran still shows beside the graph: its input and its output.
    details = browser.find_element(By.ID, "state-StartJob")
    assert details.is_displayed()
    assert '"from": "2025-09-01"' in details.text and "output" in details.text and '"jobId"' in details.text
    details = pick_state(browser, "FinishJob")
    assert "SUCCEEDED" in details.text and '"status": "SUCCESS"' in details.text
    assert not browser.find_element(By.ID, "state-StartJob").is_displayed()

    # An event opens to its details.
    event = browser.find_element(By.ID, "event-2")
    assert not event.find_element(By.CSS_SELECTOR, "pre").is_displayed()
    event.find_element(By.CSS_SELECTOR, "summary").click()
    assert '"name": "StartJob"' in event.find_element(By.CSS_SELECTOR, "pre").text

    assert "SUCCEEDED" in text(browser, "table.map-runs tbody tr")
    # Its one Tenders Changed event, with the id consumers deduplicate on.
    [published] = browser.find_elements(By.CSS_SELECTOR, "table.published tbody tr")
    assert published.text.startswith("Tenders Changed ")
    assert fits(browser)
    execution_page = browser.page_source

    # Each child execution of its Map Run opens: its own graph, input, output and events.
    children = browser.find_elements(By.CSS_SELECTOR, "table.children a")
    assert len(children) == 3
    children[0].click()
    wait(browser, 5, lambda b: "child of" in text(b, "dl.facts"))
    assert outcomes(browser) == {"LookUpBatch": "succeeded", "RecordLookupFailure": "not-reached"}
    assert text(browser, "dl.facts .status") == "SUCCEEDED"
    assert "LookUpBatch" in text(browser, "table.events")
    details = pick_state(browser, "LookUpBatch")
    assert '"batch": 0' in details.text and "output" in details.text
    browser.find_element(By.CSS_SELECTOR, "dl.facts a").click()
    wait(browser, 5, lambda b: arn_in(b.current_url) == execution)

    browser.get(up.console)
    overview = browser.page_source
    contacts = {
        value
        for row in query(up, "SELECT details->'contactPerson' FROM tenders")
        if row[0]
        for value in row[0].values()
        if value
    }
    assert contacts, "the sample's tenders carry contact fields"
    assert [value for value in contacts if value in execution_page or value in overview] == []
    assert "sync SUCCEEDED console" in text(browser, "table.executions")
    job_log = text(browser, "table.data")
    assert "SUCCESS" in job_log and "2025-09-01" in job_log
    assert fits(browser)
    # job_log's execution id opens its execution.
    browser.find_element(By.CSS_SELECTOR, "table.data a[href^='/execution']").click()
    wait(browser, 5, lambda b: arn_in(b.current_url) == execution)


def test_a_bad_form_value_is_refused_with_the_first_steps_reason(browser, up):
    from selenium.webdriver.common.by import By

    browser.get(up.console)
    form = browser.find_element(By.ID, "start-enrich-today")
    form.find_element(By.NAME, "maxEnrichment").send_keys("0")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # The answer to the form's POST is a page of its own: wait until the browser shows it.
    error = wait(browser, 10, lambda b: b.find_element(By.CSS_SELECTOR, "#start-enrich-today .error")).text
    assert (
        error == "InvalidInput: invalid enrich-today input: maxEnrichment: Input should be greater than or equal to 1"
    )
    assert (
        browser.find_element(By.CSS_SELECTOR, "#start-enrich-today input[name=maxEnrichment]").get_attribute("value")
        == "0"
    )
    enrich_today = state_machine(up, "enrich-today")
    assert up.client("stepfunctions").list_executions(stateMachineArn=enrich_today)["executions"] == []


def test_a_running_backfill_is_stopped_and_started_again_with_the_same_input(browser, up):
    from selenium.webdriver.common.by import By

    sfn = up.client("stepfunctions")
    # moto's interpreter, stopped at the instant it evaluates a task's resource, can end the execution FAILED
    # ("'dict' object has no attribute 'region'") where AWS ends it ABORTED: that race of moto's is tried again.
    for _ in range(3):
        browser.get(up.console)
        form = browser.find_element(By.ID, "start-backfill")
        # September 2025, a day at a time: the sample's tenders, 30 windows of them, minutes of work.
        form.find_element(By.NAME, "from").send_keys("09/01/2025")
        form.find_element(By.NAME, "to").send_keys("10/01/2025")
        form.find_element(By.NAME, "windowDays").send_keys("1")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(browser, 5, lambda b: "/execution?arn=" in b.current_url)
        backfill = arn_in(browser.current_url)
        wait(
            browser,
            30,
            lambda b: b.find_element(By.ID, "state-FetchReleases").get_attribute("textContent").count("input"),
        )
        wait(browser, 5, lambda b: b.find_element(By.CSS_SELECTOR, "#stop button")).click()
        ended = up.wait_for_end(backfill)
        if not (ended["status"] == "FAILED" and "no attribute 'region'" in str(ended.get("cause"))):
            break
    assert ended["status"] == "ABORTED", ended
    wait(browser, 10, lambda b: text(b, "dl.facts .status") == "ABORTED")
    assert browser.find_elements(By.ID, "stop") == []

    browser.find_element(By.CSS_SELECTOR, "#restart button").click()
    wait(browser, 5, lambda b: arn_in(b.current_url) != backfill)
    again = arn_in(browser.current_url)
    assert json.loads(sfn.describe_execution(executionArn=again)["input"]) == json.loads(
        sfn.describe_execution(executionArn=backfill)["input"]
    )
    assert '"windowDays": 1' in browser.find_element(By.ID, "execution-input").get_attribute("textContent")
    sfn.stop_execution(executionArn=again)
    up.wait_for_end(again)


def test_executions_are_filtered_by_state_machine_and_status_a_page_at_a_time(browser, up):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sfn = up.client("stepfunctions")
    echo = sfn.create_state_machine(name="Echo", definition=ECHO, roleArn=ROLE)["stateMachineArn"]
    started = [
        sfn.start_execution(stateMachineArn=echo, input=json.dumps({"n": n}))["executionArn"]
        for n in range(PAGE_SIZE + 5)
    ]
    for arn in started:
        up.wait_for_end(arn)

    browser.get(up.console)
    # Every state machine is listed, each workflow's by its name, any other (made through the endpoint) by its own.
    machines = text(browser, "table.state-machines")
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.state-machines tbody tr")) == len(
        sfn.list_state_machines()["stateMachines"]
    )
    assert all(f"\n{name} STANDARD" in f"\n{machines}" for name in [*WORKFLOWS, "Echo"])
    Select(browser.find_element(By.NAME, "machine")).select_by_visible_text("Echo")
    Select(browser.find_element(By.NAME, "status")).select_by_visible_text("SUCCEEDED")
    browser.find_element(By.CSS_SELECTOR, "#filter button").click()
    wait(browser, 5, lambda b: "status=SUCCEEDED" in b.current_url)
    assert text(browser, ".paging").startswith(f"1–{PAGE_SIZE} of {PAGE_SIZE + 5}, newest first")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.executions tbody tr")
    assert {" ".join(row.text.split()[1:3]) for row in rows} == {"Echo SUCCEEDED"}
    listed = [row.find_element(By.TAG_NAME, "a").text for row in rows]
    browser.find_element(By.CSS_SELECTOR, ".paging a[rel=next]").click()
    wait(browser, 5, lambda b: text(b, ".paging").startswith(f"{PAGE_SIZE + 1}–{PAGE_SIZE + 5} of {PAGE_SIZE + 5}"))
    rows = browser.find_elements(By.CSS_SELECTOR, "table.executions tbody tr")
    listed += [row.find_element(By.TAG_NAME, "a").text for row in rows]
    assert sorted(listed) == sorted(arn.rsplit(":", 1)[-1] for arn in started)  # each once, over the two pages
    browser.find_element(By.CSS_SELECTOR, ".paging a[rel=prev]").click()
    wait(browser, 5, lambda b: text(b, ".paging").startswith(f"1–{PAGE_SIZE} of"))

    Select(browser.find_element(By.NAME, "status")).select_by_visible_text("FAILED")
    browser.find_element(By.CSS_SELECTOR, "#filter button").click()
    wait(browser, 5, lambda b: "None match." in text(b, "main"))


def test_any_input_and_any_output_size_shows_marking_what_is_cut(browser, up):
    from selenium.webdriver.common.by import By

    sfn = up.client("stepfunctions")
    sync = state_machine(up, "sync")
    odd = {
        given: sfn.start_execution(stateMachineArn=sync, input=given)["executionArn"]
        for given in ("[]", '"hello"', "42")
    }
    echo = sfn.create_state_machine(name="BigEcho", definition=ECHO, roleArn=ROLE)["stateMachineArn"]
    blob = {"blob": "x" * 200_000}
    big = sfn.start_execution(stateMachineArn=echo, input=json.dumps(blob))["executionArn"]
    for arn in [*odd.values(), big]:
        up.wait_for_end(arn)

    browser.get(up.console)
    assert browser.find_elements(By.CSS_SELECTOR, ".unavailable") == []
    executions = text(browser, "table.executions")
    assert all(arn.rsplit(":", 1)[-1] in executions for arn in [*odd.values(), big])
    for given, arn in odd.items():
        browser.get(page_of(up, arn))
        assert text(browser, "dl.facts .status") in ("FAILED", "SUCCEEDED"), given
        assert (
            browser.find_element(By.ID, "execution-input")
            .get_attribute("textContent")
            .strip()
            .endswith(json.dumps(json.loads(given), indent=2))
        )
        assert browser.find_elements(By.CSS_SELECTOR, ".unavailable") == [], given
        assert fits(browser), given

    browser.get(page_of(up, big))
    assert text(browser, "dl.facts .status") == "SUCCEEDED"
    browser.find_element(By.CSS_SELECTOR, "#execution-output summary").click()
    cut = f"The first 20,000 of {len(json.dumps(blob, indent=2)):,} characters:"
    assert cut in browser.find_element(By.ID, "execution-output").text
    assert pick_state(browser, "Echo").text.count(cut) == 2  # its input and its output
    assert browser.find_elements(By.CSS_SELECTOR, ".unavailable") == []
    assert fits(browser)


def test_an_execution_without_history_shows_the_rest(browser, template, database_url, sample_source, monkeypatch):
    """A console in this process, its stack's history read as empty: its page shows the execution, the graph
    unreached, and marks the events it cannot show."""

    environment = function_environment(database_url, sample_source.url, sample_source.url)
    with LocalStack(template, environment) as local:
        watcher = ExecutionWatcher(local, LocalResources(local, "TenderSync", database_url))
        console = Console(local, database_url, watcher, Scheduler(local), 0)
        console.start()
        try:
            execution = local.start(CLEANUP.state_machine_id(template), {"triggeredBy": "test"})
            assert local.wait(execution).status == "SUCCEEDED"
            monkeypatch.setattr(LocalStack, "history", lambda stack, arn: [])
            browser.get(f"{console.url}execution?arn={quote(execution, safe='')}")
            assert text(browser, "dl.facts .status") == "SUCCEEDED"
            assert text(browser, ".unavailable[data-part=events]") == (
                "No events: this execution has no history to show."
            )
            assert set(outcomes(browser).values()) == {"not-reached"}
            assert "not reached" in pick_state(browser, "CleanupJobs").text
        finally:
            console.stop()


def test_an_execution_make_run_ran_opens_from_the_list_and_from_job_log(
    browser, template, database_url, sample_source, tmp_path, monkeypatch
):
    """A console in this process, its make up not the one that ran the execution: `make run`'s run_workflow,
    keeping its history in tmp_path."""
    from selenium.webdriver.common.by import By

    monkeypatch.setattr(run, "EXECUTIONS_DIR", tmp_path)
    url = sample_source.url
    ran, _, _ = run.run_workflow(CLEANUP, {"triggeredBy": "make run"}, template, database_url, url, url, io.StringIO())
    with LocalStack(template, function_environment(database_url, url, url)) as local:
        watcher = ExecutionWatcher(local, LocalResources(local, "TenderSync", database_url))
        console = Console(local, database_url, watcher, Scheduler(local), 0)
        console.start()
        try:
            browser.get(console.url)
            [row] = browser.find_elements(By.CSS_SELECTOR, "table.executions tbody tr")
            assert "run outside make up cleanup SUCCEEDED make run" in " ".join(row.text.split())
            row.find_element(By.TAG_NAME, "a").click()
            wait(browser, 5, lambda b: arn_in(b.current_url) == ran.arn)
            assert text(browser, "dl.facts .status") == "SUCCEEDED"
            assert ".local/executions/" in text(browser, ".outside-note")
            assert outcomes(browser)["CleanupJobs"] == "succeeded" and taken_edges(browser)
            assert '"triggeredBy": "make run"' in pick_state(browser, "CleanupJobs").text
            assert browser.find_elements(By.CSS_SELECTOR, "#stop, #restart, .unavailable") == []
            assert fits(browser)

            browser.get(console.url)
            browser.find_element(By.CSS_SELECTOR, "table.data a[href^='/execution']").click()
            wait(browser, 5, lambda b: arn_in(b.current_url) == ran.arn)
            assert text(browser, "dl.facts .status") == "SUCCEEDED"
        finally:
            console.stop()


def test_alert_subscriptions_show_without_their_address_or_secret(browser, up):
    from selenium.webdriver.common.by import By

    address, secret = "https://hooks.example.org/private-7f3a", "whsec_c2VjcmV0LW5vdC10by1zaG93"
    query(
        up,
        "INSERT INTO alert_subscriptions (channel, address, signing_secret, categories, query, frequency) "
        "VALUES ('webhook', %s, %s, '{Services: Building}', 'cleaning', 'daily') RETURNING id",
        address,
        secret,
    )
    browser.get(up.console)
    heading = wait(browser, 5, lambda b: b.find_element(By.XPATH, "//h3[text()='alert subscriptions']"))
    subscriptions = heading.find_element(By.XPATH, "following-sibling::table[1]")
    columns = [th.text for th in subscriptions.find_elements(By.CSS_SELECTOR, "th")]
    assert "channel" in columns and "address" not in columns and "signing_secret" not in columns
    assert "webhook" in subscriptions.text and "cleaning" in subscriptions.text
    assert address not in browser.page_source and secret not in browser.page_source
    assert fits(browser)
