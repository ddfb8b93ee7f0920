"""The studio in a real headless Chromium against a real server and workspace: every page
type, sign-in and sign-out, CSRF and Host refusals, read-only limits, the endpoint's test
form returning the prediction. Each test saves a screenshot in its tmp folder; with
``SERVING_STUDIO_SCREENSHOTS=docs/images`` the named ones are written there for the docs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from serving.hub.tokens import TokenStore
from serving.runs import metrics as m
from serving.runs import records as rec
from serving.runs.store import STD_LOG, RunStore
from tests.studio.conftest import Studio, browser_missing

pytestmark = pytest.mark.timeout(300)

if browser_missing():  # before any fixture builds the workspace
    if os.environ.get("CI") == "true":
        pytest.fail(f"the studio's browser tests must run under CI: {browser_missing()}")
    pytest.skip(str(browser_missing()), allow_module_level=True)

WAIT_S = 20
SHOTS_ENV = "SERVING_STUDIO_SCREENSHOTS"
MARKUP = '<a href="http://evil.example">x</a>'


def shot(driver: Any, tmp_path: Path, name: str) -> None:
    driver.save_screenshot(str(tmp_path / name))
    folder = os.environ.get(SHOTS_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def wait_for(driver: Any, css: str) -> Any:
    return WebDriverWait(driver, WAIT_S).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def wait_text(driver: Any, element_id: str, wanted: str) -> None:
    """Wait until the element's text holds ``wanted``; the page may reload meanwhile (a
    run that ends reloads its page), so a stale element is looked up again."""
    WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: wanted in d.find_element(By.ID, element_id).text
    )


def sign_in(driver: Any, studio: Studio, token: str, path: str = "/experiments") -> None:
    driver.delete_all_cookies()
    driver.get(studio.url(path))
    field = wait_for(driver, "#token")
    field.send_keys(studio.tokens.get(token, token))
    driver.find_element(By.ID, "signin").click()
    wait_for(driver, "#signout")


def text(driver: Any) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def api_session(studio: Studio, token: str = "rw") -> tuple[requests.Session, str]:
    """A signed-in requests session and the CSRF value of its forms."""
    http = requests.Session()
    form = http.get(studio.url("/login"), timeout=30).text
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form)
    assert login_csrf
    answer = http.post(
        studio.url("/login"),
        data={"token": studio.tokens[token], "login_csrf": login_csrf[1]},
        timeout=30,
    )
    assert answer.status_code == 200 and "serving_studio" in http.cookies
    page = http.get(studio.url(f"/runs/{studio.ids['active']}"), timeout=30).text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    return http, found.group(1)


def test_sign_in_is_required_and_sign_out_ends_the_session(
    studio: Studio, browser: Any, tmp_path: Path
) -> None:
    browser.delete_all_cookies()
    browser.get(studio.url("/experiments"))
    wait_for(browser, "#token")
    assert "/studio/login" in browser.current_url
    browser.find_element(By.ID, "token").send_keys("srvt_not-a-real-token")
    browser.find_element(By.ID, "signin").click()
    assert "not valid" in wait_for(browser, "#login-error").text
    sign_in(browser, studio, "rw")
    table = wait_for(browser, "#experiments").text
    assert re.search(r"digits\s+6\b", table) and "sweeps" in table and "pipes" in table
    cookie = browser.get_cookie("serving_studio")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    shot(browser, tmp_path, "studio-experiments.png")
    browser.find_element(By.ID, "signout").click()
    wait_for(browser, "#token")
    browser.get(studio.url("/models"))
    wait_for(browser, "#token")
    assert "/studio/login" in browser.current_url


def test_runs_table_sorts_by_a_metric_column(studio: Studio, browser: Any, tmp_path: Path) -> None:
    sign_in(browser, studio, "rw", "/experiments/digits?sort=metric:accuracy&dir=desc")
    table = wait_for(browser, "#runs")
    headers = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    assert "accuracy ▼" in headers and "loss" in headers
    first = table.find_elements(By.CSS_SELECTOR, "tbody tr")[0].text
    assert "0.9" in first and "Completed" in first  # the run with accuracy; live has none
    shot(browser, tmp_path, "studio-runs.png")


def test_run_page_shows_charts_arguments_tags_log_and_outputs(
    studio: Studio, browser: Any, tmp_path: Path
) -> None:
    sign_in(browser, studio, "rw", f"/runs/{studio.ids['run']}")
    wait_for(browser, ".chart[data-metric='accuracy'] .main-svg")
    wait_for(browser, ".chart[data-metric='loss'] .main-svg")
    assert "--lr 0.05" in browser.find_element(By.ID, "arguments").text
    assert "vision" in browser.find_element(By.ID, "tags").text
    wait_text(browser, "log", "epoch done")
    assert "trained well" in wait_for(browser, "#metric-values").text
    model = browser.find_element(By.CSS_SELECTOR, "a.run-model")  # lineage: run -> model
    assert model.text == studio.ids["model"]
    link = browser.find_element(By.LINK_TEXT, "outputs/model.pkl")
    http, _csrf = api_session(studio)
    download = http.get(link.get_attribute("href"), timeout=30)
    assert download.status_code == 200 and download.content.startswith(b"\x80")
    shot(browser, tmp_path, "studio-run.png")


def test_sweep_page_has_children_parallel_coordinates_and_best_run(
    studio: Studio, browser: Any, tmp_path: Path
) -> None:
    sign_in(browser, studio, "rw", f"/runs/{studio.ids['sweep']}")
    rows = wait_for(browser, "#sweep-children").find_elements(By.CSS_SELECTOR, "tbody tr")
    cells = {c.text for r in rows for c in r.find_elements(By.TAG_NAME, "td")}
    assert len(rows) == 2 and {"good", "ok"} <= cells
    best = browser.find_element(By.CSS_SELECTOR, "#best-run a").text
    assert "good" in browser.find_element(By.CSS_SELECTOR, "tr.best").text and best
    wait_for(browser, "#parcoords .parcoords")
    shot(browser, tmp_path, "studio-sweep.png")


def test_pipeline_page_draws_steps_coloured_with_reuse_marked(
    studio: Studio, browser: Any, tmp_path: Path
) -> None:
    sign_in(browser, studio, "rw", f"/runs/{studio.ids['pipeline']}")
    graph = wait_for(browser, "#pipeline-graph")
    steps = graph.find_elements(By.CSS_SELECTOR, "a.step")
    assert {s.get_attribute("data-step") for s in steps} == {"prepare", "train"}
    assert {s.get_attribute("data-reused") for s in steps} == {"true"}
    assert {s.get_attribute("data-status") for s in steps} == {rec.COMPLETED}
    assert "reused" in graph.text
    shot(browser, tmp_path, "studio-pipeline.png")


def test_models_show_versions_and_lineage(studio: Studio, browser: Any, tmp_path: Path) -> None:
    sign_in(browser, studio, "rw", "/models")
    listed = wait_for(browser, "#models").text
    assert "digits-model" in listed and "tiny" in listed
    browser.get(studio.url("/models/digits-model"))
    assert "stage=test" in wait_for(browser, "#versions").text
    name, version = studio.ids["model"].split(":")
    browser.get(studio.url(f"/models/{name}/{version}"))
    run_link = wait_for(browser, "#lineage-run")
    assert studio.ids["run"] in run_link.get_attribute("href")
    browser.get(studio.url("/models/tiny/1"))
    endpoint = wait_for(browser, ".lineage-endpoint")
    assert endpoint.text == "tiny-svc"
    shot(browser, tmp_path, "studio-model.png")
    endpoint.click()
    wait_for(browser, "#keys")


def test_endpoint_keys_test_form_and_load_test_report(
    studio: Studio, browser: Any, tmp_path: Path
) -> None:
    sign_in(browser, studio, "rw", "/endpoints")
    assert re.search(r"tiny-svc\s+Healthy\s+local\s+1", wait_for(browser, "#endpoints").text)
    browser.get(studio.url("/endpoints/tiny-svc"))
    keys = studio.ws.endpoints.get("tiny-svc").keys
    assert keys[0] not in text(browser)  # hidden until asked
    assert "requests" in wait_for(browser, "#loadtest").text.lower()
    browser.find_element(By.ID, "reveal").click()
    assert keys[0] in wait_for(browser, "code.key").text
    body = wait_for(browser, "#test-body")
    assert '"data"' in body.get_attribute("value")  # the swagger example
    browser.find_element(By.ID, "send").click()
    assert wait_for(browser, "#answer-status").text == "200"
    assert re.sub(r"\s", "", browser.find_element(By.ID, "prediction").text) == "[6.0]"
    shot(browser, tmp_path, "studio-endpoint.png")


def test_posts_without_csrf_or_from_elsewhere_are_refused(studio: Studio) -> None:
    http, csrf = api_session(studio)
    cancel = studio.url(f"/runs/{studio.ids['active']}/cancel")
    assert http.post(cancel, data={}, timeout=30).status_code == 403
    assert http.post(cancel, data={"csrf": "wrong"}, timeout=30).status_code == 403
    elsewhere = {"Origin": "http://evil.example"}
    assert http.post(cancel, data={"csrf": csrf}, headers=elsewhere, timeout=30).status_code == 403
    keys = studio.url("/endpoints/tiny-svc/keys")
    assert http.post(keys, data={}, timeout=30).status_code == 403
    rebound = http.get(studio.url("/experiments"), headers={"Host": "evil.example"}, timeout=30)
    assert rebound.status_code == 403
    assert RunStore(studio.ws.path, studio.ws.db).get(studio.ids["active"]).status == rec.RUNNING
    anonymous = requests.post(cancel, data={"csrf": csrf}, timeout=30, allow_redirects=False)
    assert anonymous.status_code == 401


def test_test_form_refuses_a_body_over_its_limit(studio: Studio) -> None:
    http, csrf = api_session(studio)
    body = "[" + "1," * 40_000 + "1]"
    answer = http.post(
        studio.url("/endpoints/tiny-svc/test"), data={"csrf": csrf, "body": body}, timeout=30
    )
    assert answer.status_code == 200 and "over 64 KiB" in answer.text


def test_read_only_token_looks_but_cannot_change(
    studio: Studio, browser: Any, tmp_path: Path
) -> None:
    sign_in(browser, studio, "ro", f"/runs/{studio.ids['active']}")
    assert "read-only" in wait_for(browser, "#who").text
    browser.find_element(By.ID, "cancel").click()
    assert "read-only" in wait_for(browser, "#error-message").text
    assert "403" in browser.find_element(By.CSS_SELECTOR, ".error-title").text
    shot(browser, tmp_path, "studio-read-only.png")
    browser.get(studio.url("/endpoints/tiny-svc"))
    browser.find_element(By.ID, "reveal").click()
    assert "read-only" in wait_for(browser, "#error-message").text
    browser.get(studio.url("/endpoints/tiny-svc"))
    wait_for(browser, "#send").click()
    assert "read-only" in wait_for(browser, "#error-message").text
    assert RunStore(studio.ws.path, studio.ws.db).get(studio.ids["active"]).status == rec.RUNNING


def test_active_run_page_polls_charts_and_log_then_cancel(
    studio: Studio, browser: Any, tmp_path: Path
) -> None:
    store = RunStore(studio.ws.path, studio.ws.db)
    active = studio.ids["active"]
    sign_in(browser, studio, "rw", f"/runs/{active}")
    assert "no numeric metrics" in wait_for(browser, "#charts-empty").text
    writer = m.MetricsWriter(store.metrics_file(active))
    for step in range(30):
        writer.add("live_loss", m.SCALAR, 1.0 / (step + 1), step)
    writer.add(MARKUP, m.SCALAR, 1.0, 0)  # a name plotly would read as markup
    writer.flush()
    log = store.run_dir(active) / STD_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("step 30 of 100\n")
    wait_for(browser, ".chart[data-metric='live_loss'] .main-svg")  # no reload: polled
    title = wait_for(browser, f".chart[data-metric='{MARKUP}'] .gtitle")
    assert title.text.startswith(MARKUP)  # shown as written, not as a link
    wait_text(browser, "log", "step 30 of 100")
    shot(browser, tmp_path, "studio-run-live.png")
    browser.find_element(By.ID, "cancel").click()
    wait_text(browser, "run-title", "Canceled")
    assert RunStore(studio.ws.path, studio.ws.db).get(studio.ids["active"]).status == rec.CANCELED


def test_revoking_the_token_ends_its_sessions(studio: Studio, browser: Any) -> None:
    tokens = TokenStore(studio.ws.db)
    studio.tokens["bob"] = tokens.create("bob")[1]
    sign_in(browser, studio, "bob")
    tokens.revoke("bob")
    browser.get(studio.url("/experiments"))
    wait_for(browser, "#token")
    assert "/studio/login" in browser.current_url
