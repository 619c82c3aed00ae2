"""The listening page: items and the ratings file without a browser; then the real page in headless Chromium (rate
three responses, reload, resume, undo), as a rater would use it."""

import contextlib
import json
import os
import shutil
import socket
import time

import pytest

from parass2s_hf.listen.rating import RatingLog, check_rater, select_items


def _write_run(folder, sample_test, label, n=4):
    """A finished evaluation run over the first `n` sample rows: results.jsonl, run.json, manifest.json and the
    response clips (the queries' own audio, as a stand-in reply)."""
    import soundfile as sf

    os.makedirs(folder / "responses")
    run = {"system": "cascade", "system_fingerprint": "S", "judge_fingerprint": "J",
           "dataset": {"config": "sample", "split": "test", "data_dir": None, "iemocap_dir": None, "meld_dir": None}}
    (folder / "run.json").write_text(json.dumps(run))
    (folder / "manifest.json").write_text(json.dumps({"label": label, "system": {"name": "cascade"}}))
    lines = []
    for row in sample_test.select(range(n)):
        path = f"responses/{row['id']}__0.wav"
        samples = row["audio"].get_all_samples()
        sf.write(folder / path, samples.data.numpy().T, samples.sample_rate)
        lines.append(json.dumps({"id": row["id"], "sample": 0, "system_fingerprint": "S", "judge_fingerprint": "J",
                                 "subset": row["dimension"], "dimension": row["dimension"], "style": row["style"],
                                 "status": "ok", "score": 3, "response_path": path}))
    (folder / "results.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def runs(tmp_path, sample_test):
    return [_write_run(tmp_path / "run_a", sample_test, "system-a"), _write_run(tmp_path / "run_b", sample_test,
                                                                               "system-b")]


def test_items_are_blind_shuffled_per_rater_and_capped_per_group(runs):
    alice = select_items([str(r) for r in runs], "alice")
    bob = select_items([str(r) for r in runs], "bob")
    assert len(alice) == 8 and sorted(map(_key, alice)) == sorted(map(_key, bob))
    assert [_key(i) for i in alice] != [_key(i) for i in bob]  # each rater's own order
    assert select_items([str(r) for r in runs], "alice") == alice  # the same order on every start
    capped = select_items([str(r) for r in runs], "alice", per_group=1)
    assert len(capped) == len({(i["system"], i["dimension"]) for i in alice})


def _key(item):
    return item["system"], item["id"], item["sample"]


def test_the_ratings_file_is_what_validate_judge_reads_and_undo_rewrites_it(runs, tmp_path):
    items = select_items([str(r) for r in runs], "alice")
    log = RatingLog(str(tmp_path / "ratings"), "alice")
    log.add(items[0], 4, "clear")
    log.add(items[1], 2)
    assert log.undo()["id"] == items[1]["id"]
    lines = [json.loads(x) for x in (tmp_path / "ratings" / "alice.jsonl").read_text().splitlines()]
    assert len(lines) == 1 and {"id", "sample", "system", "dimension", "human_score", "rater", "time"} <= set(lines[0])
    assert lines[0]["human_score"] == 4 and lines[0]["system"] in ("system-a", "system-b")
    with pytest.raises(ValueError, match="whole number from 1 to 5"):
        log.add(items[0], 7)


@pytest.mark.parametrize("name", ["", "a b", "../x", "x" * 65])
def test_a_rater_name_is_required_and_names_a_file(name):
    with pytest.raises(ValueError, match="rater"):
        check_rater(name)


def test_a_folder_that_is_not_a_run_is_named(tmp_path):
    with pytest.raises(ValueError, match="no run.json"):
        select_items([str(tmp_path)], "alice")


# ---- the page in a real browser ----

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("no headless browser here (install Debian's chromium and chromium-driver; CI has them)")
    selenium = pytest.importorskip("selenium", reason="selenium is not installed (the dev extra)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1000",
                 "--disable-gpu"):
        options.add_argument(flag)
    del selenium
    return webdriver.Chrome(service=Service(driver), options=options)


def _wait(browser, predicate, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with contextlib.suppress(Exception):  # the page is still loading
            value = predicate()
            if value:
                return value
        time.sleep(0.3)
    raise AssertionError(f"the page did not get there in {seconds} s: {browser.page_source[-1500:]}")


def _progress(browser) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, "#progress").text


@pytest.mark.slow  # starts a Gradio server and a browser (about 30 s); .ci/run runs the slow tests and has Chromium
def test_rate_three_reload_resume_and_undo_in_a_real_browser(runs, tmp_path):
    pytest.importorskip("gradio", reason="the page needs gradio (the listen extra)")
    from selenium.webdriver.common.by import By

    from parass2s_hf.listen.app import rate_page

    assert os.environ.get("GRADIO_ANALYTICS_ENABLED") == "False"
    items = select_items([str(r) for r in runs], "alice")
    log = RatingLog(str(tmp_path / "ratings"), "alice")
    page = rate_page(items, log)
    port = _free_port()
    page.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, inbrowser=False,
                        share=False)
    browser = _browser()
    try:
        url = f"http://127.0.0.1:{port}/"
        browser.get(url)
        _wait(browser, lambda: "0 of 8" in _progress(browser))
        for n, score in enumerate(("4", "2", "5"), start=1):
            _wait(browser, lambda score=score: browser.find_element(By.CSS_SELECTOR,
                                                                    f'#score input[value="{score}"]'))
            browser.find_element(By.CSS_SELECTOR, f'#score input[value="{score}"]').click()
            browser.find_element(By.CSS_SELECTOR, "#submit").click()
            _wait(browser, lambda n=n: f"{n} of 8" in _progress(browser))
        shot = os.environ.get("PARASS2S_SCREENSHOT")  # docs/images/listen_rate.png was taken this way
        browser.save_screenshot(shot or str(tmp_path / "page.png"))
        ratings = [json.loads(x) for x in (tmp_path / "ratings" / "alice.jsonl").read_text().splitlines()]
        assert [r["human_score"] for r in ratings] == [4, 2, 5]
        assert [(r["system"], r["id"]) for r in ratings] == [(i["system"], i["id"]) for i in items[:3]]
        browser.get(url)  # reload: the page resumes after the last rating
        _wait(browser, lambda: "3 of 8" in _progress(browser))
        browser.find_element(By.CSS_SELECTOR, "#undo").click()
        _wait(browser, lambda: "2 of 8" in _progress(browser))
        assert len((tmp_path / "ratings" / "alice.jsonl").read_text().splitlines()) == 2
        page_text = browser.find_element(By.TAG_NAME, "body").text
        assert "system-a" not in page_text and "system-b" not in page_text  # blind to the system
    finally:
        browser.quit()
        page.close()
    # the page's folder is what validate-judge reads: judge-human and inter-rater agreement (one rater: said, not
    # computed)
    from parass2s_hf.validation.cli import main as validate

    out = tmp_path / "validation"
    args = ["--ratings", str(tmp_path / "ratings"), "--output", str(out), "--n_resamples", "50"]
    assert validate([*args, *(x for r in runs for x in ("--run", str(r)))]) == 0
    report = json.loads((out / "validation.json").read_text())
    assert report["inter_rater"]["ordinal"]["value"] is None and "1 rater" in report["inter_rater"]["reason"]
    assert "Krippendorff" in (out / "validation.md").read_text()


@pytest.mark.slow  # builds a small work folder and drives the page in a browser (about 30 s); .ci/run runs it
def test_a_verification_in_the_page_changes_what_export_writes(tmp_path):
    pytest.importorskip("gradio", reason="the page needs gradio (the listen extra)")
    from selenium.webdriver.common.by import By
    from test_human_check import _built, _metadata

    from parass2s_hf.construct.export import ExportConfig, run_export
    from parass2s_hf.construct.human_check import items_to_check, rejected_records
    from parass2s_hf.listen.app import verify_page

    work = _built(tmp_path / "work", "benchmark", "emotion", 4)
    items = items_to_check(work)
    page = verify_page(work.path, "bob")
    port = _free_port()
    page.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, inbrowser=False,
                        share=False)
    browser = _browser()
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        _wait(browser, lambda: f"0 of {len(items)}" in _progress(browser))
        _wait(browser, lambda: browser.find_element(By.CSS_SELECTOR, '#decision input[value="accept"]')).click()
        browser.find_element(By.CSS_SELECTOR, "#submit").click()
        _wait(browser, lambda: f"1 of {len(items)}" in _progress(browser))
        _wait(browser, lambda: browser.find_element(By.CSS_SELECTOR, '#decision input[value="reject"]')).click()
        browser.find_element(By.CSS_SELECTOR, '#reason input[value="audio defect"]').click()
        browser.find_element(By.CSS_SELECTOR, "#submit").click()
        _wait(browser, lambda: f"2 of {len(items)}" in _progress(browser))
    finally:
        browser.quit()
        page.close()
    assert rejected_records(work) == {items[1]["id"]: "audio defect"}
    out = str(tmp_path / "out")
    summary = run_export(work, ExportConfig(out=out, parquet=False))
    assert summary["dropped"] == {"rejected by a listener: audio defect": 2}
    assert {r["pair_id"] for r in _metadata(out)} == {i["id"] for i in items} - {items[1]["id"]}
