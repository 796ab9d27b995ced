"""The console of `make up` in a real browser: Debian's headless Chromium, driven by Selenium through Debian's
chromedriver (never a browser or driver downloaded by a tool). Where Chromium is missing the test is skipped,
saying so; under CI (CI=true) it fails instead."""

import os
import shutil
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from local.engine.database import fresh_database
from tests.helpers.local_up import RunningUp, running_up

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MISSING = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]

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


def query(up: RunningUp, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(up.database_url) as conn:
        return conn.execute(sql).fetchall()


def outcomes(browser) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    return {
        g.get_attribute("data-state"): g.get_attribute("data-outcome")
        for g in browser.find_elements(By.CSS_SELECTOR, "svg.graph g.state")
    }


def test_a_sync_started_from_its_form_turns_its_graph_green(browser, up):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(up.console)
    form = browser.find_element(By.ID, "start-sync")
    form.find_element(By.NAME, "from").send_keys("09/01/2025")  # a date input takes the date as the locale types it
    form.find_element(By.NAME, "to").send_keys("09/08/2025")
    form.find_element(By.NAME, "triggeredBy").send_keys("console")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    WebDriverWait(browser, 5).until(lambda b: "/execution?arn=" in b.current_url)
    # The page refreshes itself until the execution ends (a page read mid-refresh goes stale: read it again); the
    # first page that says SUCCEEDED refreshes no more, and shows every state the run went through green.
    WebDriverWait(browser, 90, poll_frequency=0.5, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda b: b.find_element(By.CSS_SELECTOR, "dl.facts .status").text == "SUCCEEDED"
    )
    assert browser.find_elements(By.CSS_SELECTOR, "meta[http-equiv=refresh]") == []
    seen = outcomes(browser)
    path = [
        "StartJob",
        "LeaseHeld?",
        "FetchReleases",
        "UpsertTenders",
        "PlanLookups",
        "AnythingToLookUp?",
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
    map_counts = browser.find_element(By.CSS_SELECTOR, "table.map-runs tbody tr").text
    assert "SUCCEEDED" in map_counts
    assert '"from": "2025-09-01"' in browser.find_element(By.ID, "state-StartJob").get_attribute("innerHTML")
    # Its one Tenders Changed event, with the id consumers deduplicate on.
    [published] = browser.find_elements(By.CSS_SELECTOR, "table.published tbody tr")
    assert published.text.startswith("Tenders Changed ") and "/2025-09-01/2025-09-08" in published.text

    execution_page = browser.page_source
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
    executions = browser.find_element(By.CSS_SELECTOR, "table.executions").text
    assert "sync SUCCEEDED console" in executions
    job_log = browser.find_element(By.CSS_SELECTOR, "table.data").text
    assert "SUCCESS" in job_log and "2025-09-01" in job_log


def test_a_bad_form_value_is_refused_with_the_first_steps_reason(browser, up):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(up.console)
    form = browser.find_element(By.ID, "start-enrich-today")
    form.find_element(By.NAME, "maxEnrichment").send_keys("0")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # The answer to the form's POST is a page of its own: wait until the browser shows it.
    error = (
        WebDriverWait(
            browser, 10, poll_frequency=0.2, ignored_exceptions=[NoSuchElementException, StaleElementReferenceException]
        )
        .until(lambda b: b.find_element(By.CSS_SELECTOR, "#start-enrich-today .error"))
        .text
    )
    assert (
        error == "InvalidInput: invalid enrich-today input: maxEnrichment: Input should be greater than or equal to 1"
    )
    assert (
        browser.find_element(By.CSS_SELECTOR, "#start-enrich-today input[name=maxEnrichment]").get_attribute("value")
        == "0"
    )
    enrich_today = up.client("stepfunctions").list_state_machines()["stateMachines"]
    (machine,) = [m["stateMachineArn"] for m in enrich_today if "EnrichToday" in m["name"]]
    assert up.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []
