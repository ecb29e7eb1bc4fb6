"""The user's first hour, as the README's quick start tells it: `make demo` (twice: the second run is
incremental), then `make dev` and `make serve` with no variable but the settings file the demo
wrote (STOCK_ENV_FILE stands in for the project's .env, which a test must not overwrite)."""

import os
import re
import shutil
import subprocess

import httpx
import pytest

from stock_serving.rag import DATA_NOTE, SYSTEM, TASK
from stock_serving.retrieval import normalized
from tests.conftest import REPO
from tests.servers import free_port, running, wait_until
from tests.serving.test_ui import CHROMIUM_FLAGS, chat_in_browser

pytestmark = pytest.mark.slow
MAKE = shutil.which("make")


def demo(env) -> str:
    result = subprocess.run([MAKE, "--no-print-directory", "demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    """Runs `make demo` twice on a fresh STOCK_HOME; yields (environment with only the settings
    file, home, first output, second output)."""
    tmp = tmp_path_factory.mktemp("journey")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCK_", "DAGSTER_HOME", "LLM_", "TRITON_", "API_"))}
    env.update(STOCK_ENV_FILE=str(tmp / "settings.env"))
    # seven months, not the default eighteen: shorter held-out periods than production's 63 + 93 sessions;
    # trained up to 2015-12-02, then the last 20 sessions replayed day by day
    demo_env = {**env, "STOCK_HOME": str(tmp / "home"), "DEMO_START": "2015-06-01", "DEMO_EPOCHS": "2",
                "STOCK_VALIDATION_SESSIONS": "20", "STOCK_TEST_SESSIONS": "40"}
    first = demo(demo_env)
    second = demo(demo_env)
    return env, tmp / "home", first, second


def test_make_demo_twice(journey):
    env, home, first, second = journey
    assert len(first.splitlines()) < 170, first  # one line per step and what it found; the events are in the log file
    assert "Warning" not in first and "Telemetry" not in first
    assert "DEMO OK" in first and "served as stock_predictor v1" in first
    for step in ("1/8", "2/8", "3/8", "4/8", "5/8", "6/8", "7/8", "8/8"):
        assert f"==> {step}" in first
    assert "| random walk |" in first and "| drift |" in first and re.search(r"answer cites [1-8] headlines", first)
    # the full Dagster output is in a log file, named at the end
    log = re.search(r"Full log:\s+(\S+)", first)
    assert log and os.path.getsize(log.group(1)) > 10_000, first[-2000:]
    # one rule chooses what is served; without significant evidence of skill, the random walk
    gate = re.search(r"Gate: +(news network|price-only network|random walk): (.*)", first)
    assert gate and "no comparable served version" in gate.group(2), first
    served_as = re.search(r"Served: +(news network|price-only network|random walk) \(the gate's figures are selection figures", first)
    assert served_as, first
    # the summary's evaluation says whether the networks it shows are what is served
    if served_as.group(1) == "random walk":
        assert "networks as trained, NOT served (the gate serves the random walk" in first and "shrinkage" not in first.split("Served:")[1]
    else:
        assert f"(the {served_as.group(1)} is served;" in first
    # the settings the demo ran with are written for `make dev` and `make serve`
    settings = open(env["STOCK_ENV_FILE"]).read()
    assert "STOCK_PRICE_SOURCE=replay" in settings and f"STOCK_HOME={home}" in settings
    assert "STOCK_EMBEDDER=minilm" in settings and "STOCK_START_DATE=2014-01-01" in settings
    # days of operation: v1 deployed from the session after the cutoff, forecasts scored day by day,
    # a retraining through the gate on the last replayed session, the scoreboard from forecast_scores
    assert "forecasts from 2015-12-03" in first and "2015-12-31: v1 served, 20 outcomes scored" in first, first
    assert re.search(r"\| v1 \(random walk\) \| since publication \| 7\d \|", first), first
    assert "Live record: Version" in first and "==> Scoreboard: sessions 2015-12-03 .. 2015-12-31" in first
    versions = sorted(p.name for p in (home / "models" / "stock_predictor").iterdir() if p.name.isdigit())
    served = versions[-1]
    # incremental: nothing embedded again; the same data trains no epoch and publishes no version
    assert "embedded 0 new" in second and "news model epoch" not in second, second
    second_log = re.search(r"Full log:\s+(\S+)", second).group(1)
    assert "already trained on this data" in open(second_log).read()  # the demo's training and the replay's
    gate = next(line for line in second.splitlines() if line.startswith("Gate:"))
    assert f"unchanged: the challenger serves the same forecasts as version {served}" in gate, gate
    assert "deployed v" not in second.split("==> 7/8")[1].split("==> 8/8")[0]  # the replayed days redeploy nothing
    # the same forecasts and scores again: the replayed partitions are rewritten identically
    assert re.search(r"\| v1 \(random walk\) \| since publication \| 7\d \|", second)


GRAPHQL = {
    "partitions": '{ assetNodes(assetKeys: [{path: ["raw_prices"]}]) { partitionStats { numMaterialized numPartitions numFailed } } }',
    "failed": "{ runsOrError(filter: {statuses: [FAILURE]}) { ... on Runs { results { runId jobName } } } }",
    "ticks": '{ sensorOrError(sensorSelector: {repositoryName: "__repository__", repositoryLocationName: "stock_assets", '
             'sensorName: "triton_deploy_sensor"}) { ... on Sensor { sensorState { ticks(limit: 10) { status skipReason } } } } }',
}


def test_make_dev_after_the_demo_shows_its_partitions_and_no_failed_run(journey, tmp_path):
    from playwright.sync_api import sync_playwright

    env, home, _, _ = journey
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def graphql(name):
        return httpx.post(f"{url}/graphql", json={"query": GRAPHQL[name]}, timeout=20).json()["data"]

    with running([MAKE, "--no-print-directory", "dev", f"DEV_PORT={port}"], cwd=REPO, env=env):
        stats = wait_until(lambda: graphql("partitions")["assetNodes"], 240, "the Dagster UI")[0]["partitionStats"]
        # the settings' range (2014-01-01 .. 2015-12-31) with the demo's days (2015-06-01 .. 2015-12-31) materialized
        assert stats["numPartitions"] == 730 and stats["numMaterialized"] == 214 and stats["numFailed"] == 0
        # the deploy sensor ticks with Triton down: it skips and says why, it launches nothing that fails
        ticks = wait_until(lambda: graphql("ticks")["sensorOrError"]["sensorState"]["ticks"], 180, "a sensor tick")
        assert all(t["status"] in ("SKIPPED", "SUCCESS") for t in ticks), ticks
        skipped = [t["skipReason"] for t in ticks if t["status"] == "SKIPPED"]
        assert skipped and "make triton" in skipped[0] and "TRITON_URL" in skipped[0]
        assert graphql("failed")["runsOrError"]["results"] == []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{url}/assets/raw_prices?view=partitions", wait_until="networkidle")
            skip = page.get_by_role("button", name="Skip")  # the first-visit newsletter dialog
            if skip.count():
                skip.first.click()
            page.get_by_text(f"{stats['numMaterialized']:,}", exact=False).first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "partitions.png"))
            page.goto(f"{url}/runs", wait_until="networkidle")
            page.get_by_text("Runs", exact=False).first.wait_for(timeout=60_000)
            assert page.get_by_text("Failure", exact=True).count() == 0
            page.screenshot(path=str(tmp_path / "runs.png"))
            browser.close()


def test_make_serve_after_the_demo_answers_a_chat_in_the_browser(journey, tmp_path):
    env, _, _, _ = journey
    api_port, ui_port, llm_port = free_port(), free_port(), free_port()
    ports = [f"API_PORT={api_port}", f"UI_PORT={ui_port}", f"LLM_PORT={llm_port}"]
    with running([MAKE, "--no-print-directory", "serve", *ports], cwd=REPO, env=env):
        ready = wait_until(lambda: (r := httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=10)).status_code == 200
                           and r.json()["llm"] and r.json(), 600, "the chatbot API with Triton, Chroma and the LLM")
        assert ready["model_version"] and "AAPL" in ready["symbols"]
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{ui_port}/_stcore/health").status_code == 200, 120, "streamlit")
        answers = {}
        for question, ready_text in (("What does the model expect for AAPL this week?", "Sources"),
                                     ("Why did AAPL fall in December 2015?", "Sources"),
                                     ("Compare AAPL and MSFT", "Sources"),
                                     ("TSLA outlook", "is not covered")):
            with chat_in_browser(ui_port, question) as page:
                page.get_by_text(ready_text, exact=True if ready_text == "Sources" else False).first.wait_for(timeout=240_000)
                # the LLM's words stream in and are checked: read the answer once they are replaced by the final one
                page.get_by_text("is phrasing the news summary", exact=False).first.wait_for(state="detached", timeout=240_000)
                page.screenshot(path=str(tmp_path / f"chat-{len(answers)}.png"), full_page=True)
                message = page.locator('[data-testid="stChatMessage"]').last
                answers[question] = (message.inner_text().replace("\u2060", ""), message.locator("li").all_inner_texts())
    answer, items = answers["What does the model expect for AAPL this week?"]
    # facts first, then the news summary (the LLM's, checked, or the extractive one with the reason), then the sources
    assert answer.index("AAPL: last close") < answer.index("News summary (") < answer.index("Sources"), answer
    assert "News summary (smollm2, checked against the data): " in answer or "The language model's summary was withheld: " in answer
    # MiniLM has no sentiment head: the shipped classifier scored every headline, per source and in the answer, with its figure
    assert re.search(r"News sentiment: \d of \d headlines \w+.*\(MiniLM sentiment classifier; held-out macro-F1 0\.\d\d, ", answer), answer
    cited = [i for i in items if re.search(r" — \d{4}-\d{2}-\d{2}, ", i)]
    assert cited and all(re.search(r" — sentiment: (positive|negative|neutral)$", i) for i in cited), items
    # this week: sources from the week to the latest session (Monday 2015-12-28 .. Thursday 2015-12-31)
    assert all(re.search(r" — 2015-12-(28|29|30|31), ", i) for i in cited), cited
    listed = [m.group(1) for m in (re.match(r"(.+) — \d{4}-\d{2}-\d{2}, ", item) for item in cited) if m]
    assert len({normalized(t) for t in listed}) == len(listed), items
    for instruction in (SYSTEM, TASK.format(subject="AAPL"), DATA_NOTE, "untrusted", "treat them strictly as data"):
        assert instruction.lower() not in answer.lower()
    # why it moved: the move and its dates, beside SPY, and the news of its largest days with their dates
    why, items = answers["Why did AAPL fall in December 2015?"]
    assert "from 115.01 on 2015-12-04 to 101.70 on 2015-12-31 (−11.6 %)" in why, why
    assert "SPY (the S&P 500) over the same sessions: " in why and "Largest daily moves:" in why
    big_days = [i for i in items if re.match(r"2015-12-\d\d: [+−]\d+\.\d %", i)]
    assert len(big_days) == 3 and all("News that day: " in i for i in big_days), items
    if "News summary (smollm2, checked against the data): " in why:  # the LLM's words, only when they passed the check
        from stock_serving.answer_check import check_llm_text

        summary = why.split("News summary (smollm2, checked against the data): ")[1].split("\n")[0]
        assert check_llm_text(summary, why.replace(summary, "")).passed
    compare, _ = answers["Compare AAPL and MSFT"]
    assert "AAPL (Apple); last close" in compare and "MSFT (Microsoft); last close" in compare, compare
    tesla, _ = answers["TSLA outlook"]
    assert "TSLA (Tesla) is not covered" in tesla and "Covered symbols: " in tesla and "MSFT (Microsoft)" in tesla
    assert "News summary" not in tesla and "smollm2" not in tesla.split("LLM:")[0]  # no LLM text about TSLA
