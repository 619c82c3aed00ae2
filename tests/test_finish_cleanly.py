"""Fail loud, finish cleanly: a system that fails alike on its whole first batch stops the run; a run that scores
nothing exits 3 with its reasons in the report; Ctrl-C says where it stopped and exits 130; a finished run ends with its
Table 4 rows and the paths of its files."""

import os
import signal
import subprocess
import sys
import time

import pytest
import soundfile as sf
from conftest import tone
from test_evaluation import ScriptedJudge, ScriptedSystem, run
from test_evaluation_cli import HEADER, _env, results

from parass2s_hf import cli
from parass2s_hf.evaluation.runner import RunStopped
from parass2s_hf.io import JsonlLog
from parass2s_hf.judge import JudgeResult


def test_a_system_that_fails_alike_on_its_whole_first_batch_stops_the_run(tmp_path, sample_test):
    broken = ScriptedSystem({i: "error" for i in sample_test["id"]})  # "model refused" on every item
    with pytest.raises(RunStopped, match="failed on all 4 items of the first batch with the same error: model refused"):
        run(tmp_path, sample_test, system=broken)
    assert list(JsonlLog(tmp_path / "run" / "generations.jsonl")) == []  # nothing recorded: the rerun does the work
    _, report = run(tmp_path, sample_test)  # fixed: the same folder runs in full
    assert report["counts"]["total"]["items_scored"] == 48


def test_failures_that_differ_do_not_stop_the_run(tmp_path, sample_test):
    ids = sample_test["id"]
    mixed = ScriptedSystem({ids[0]: "error", ids[1]: "nan", ids[2]: "error", ids[3]: "error"})
    _, report = run(tmp_path, sample_test, system=mixed)
    assert report["counts"]["total"]["status"]["system_error"] == 4


class BrokenJudge(ScriptedJudge):
    """Scores normally until batch `fails_at` (counted from 0), then raises, or answers every pair with a server
    error."""

    def __init__(self, fails_at=0, how="raise"):
        super().__init__()
        self.fails_at, self.how, self.batches = fails_at, how, 0

    def score(self, items):
        self.batches += 1
        if self.batches - 1 < self.fails_at:
            return super().score(items)
        if self.how == "raise":
            raise RuntimeError("CUDA error: device-side assert triggered\n  (a long trace)")
        return [JudgeResult(status="missing", reason=f"endpoint error: BadRequestError: Error code: 400 - "
                                                     f"{{'message': 'audio {i} is not supported'}}")
                for i, _ in enumerate(items)]


def test_a_judge_that_raises_stops_the_run_in_one_line_keeping_what_was_judged(tmp_path, sample_test):
    with pytest.raises(RunStopped, match=r"the judge failed on the first batch of 4 item\(s\): RuntimeError: CUDA "
                                         r"error: device-side assert triggered \(a long trace\)\. Nothing of this"):
        run(tmp_path, sample_test, judge=BrokenJudge(0))
    assert list(JsonlLog(tmp_path / "run" / "results.jsonl")) == []
    assert len(list(JsonlLog(tmp_path / "run" / "generations.jsonl"))) == 48  # the responses are kept
    with pytest.raises(RunStopped, match=r"failed on a batch of 4 item\(s\).*the 8 item\(s\) judged before are kept"):
        run(tmp_path, sample_test, judge=BrokenJudge(2))
    assert len(list(JsonlLog(tmp_path / "run" / "results.jsonl"))) == 8
    _, report = run(tmp_path, sample_test)  # fixed: the rerun judges the rest
    assert report["counts"]["total"]["items_scored"] == 48


def test_a_judge_server_that_refuses_every_pair_of_the_first_batch_stops_the_run(tmp_path, sample_test, capsys):
    with pytest.raises(RunStopped, match="the judge failed on all 4 items of the first batch with the same endpoint "
                                         "error: BadRequestError: Error code: 400"):
        run(tmp_path, sample_test, judge=BrokenJudge(0, how="server"))
    assert list(JsonlLog(tmp_path / "run" / "results.jsonl")) == []
    # later, the same errors are the pairs' missing scores (the server may have failed for a while): the run goes on
    _, report = run(tmp_path, sample_test, judge=BrokenJudge(1, how="server"))
    assert report["counts"]["total"]["items_scored"] == 4 and report["counts"]["total"]["status"]["missing"] == 44


@pytest.fixture(scope="module")
def responses(tmp_path_factory, sample_test):
    folder = tmp_path_factory.mktemp("responses")
    for i, rid in enumerate(sample_test["id"]):
        sf.write(folder / f"{rid}.wav", tone(0.6 + 0.02 * i, 200 + 5 * i), 16000)
    return folder


def test_a_run_that_scores_nothing_exits_3_with_its_reasons(tmp_path, tiny, responses, capsys):
    """The tiny multistage judge runs end to end: its random rubric LLM writes no JSON, so every score is missing,
    with the reason; that is the honest outcome, and the command says so."""
    out = tmp_path / "run"
    rc = cli.main(["evaluate", "--system", "precomputed", "--responses", str(responses), "--dataset_config", "sample",
                   "--limit", "2", "--output", str(out), "--n_resamples", "50", "--judge_mode", "multistage",
                   "--judge_asr_model", tiny["asr"], "--judge_audio_llm", tiny["audio_llm"],
                   "--judge_rubric_model", tiny["text_llm"], "--judge_rubric_max_new_tokens", "8",
                   "--judge_tone_max_new_tokens", "4", "--judge_asr_max_new_tokens", "4", "--judge_max_retries", "0"])
    captured = capsys.readouterr()
    assert rc == 3
    assert "no item was scored" in captured.err and str(out / "report.md") in captured.err
    got = results(out)
    assert got and all(r["status"] == "missing" and r["reason"].startswith("no score after 1 attempt(s)")
                       for r in got.values())
    assert "no score after 1 attempt(s)" in (out / "report.md").read_text()  # the reasons are in the report


def test_a_finished_run_ends_with_its_table_and_paths(tmp_path, tiny, responses, capsys):
    out = tmp_path / "run"
    args = ["evaluate", "--system", "precomputed", "--responses", str(responses), "--dataset_config", "sample", "--limit",
            "2", "--output", str(out), "--n_resamples", "50", "--judge_mode", "reward_model", "--judge_audio_llm",
            tiny["audio_llm"]]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert HEADER in printed and "## By query style" not in printed  # the Table 4 rows, not the whole report
    assert f"report: {out / 'report.md'}, {out / 'report.json'}, {out / 'report.png'}" in printed


def test_ctrl_c_says_where_it_stopped_and_exits_130(tmp_path, tiny, responses):
    out = tmp_path / "run"
    # A shell starts background jobs with SIGINT ignored, and Python then installs no KeyboardInterrupt handler: the
    # child gets the terminal's default first, as a user's Ctrl-C meets it (a CI run launched in the background too).
    start = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "from parass2s_hf.cli import main; sys.exit(main())")
    args = [sys.executable, "-c", start, "evaluate", "--system", "precomputed", "--responses",
            str(responses), "--dataset_config", "sample", "--batch_size", "1", "--output", str(out), "--judge_mode",
            "reward_model", "--judge_audio_llm", tiny["audio_llm"]]
    proc = subprocess.Popen(args, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    path = out / "results.jsonl"
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith("parass2s evaluate: interrupted after ") and last.endswith(
        " of 48 items; run the same command again to resume.")
    assert os.path.exists(path)


def test_the_readme_own_system_example_runs_as_written(tmp_path, tiny, monkeypatch):
    """README "Your own model, from Python": the 20 lines run as written (with the tiny checkpoints of the main job)."""
    import re

    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")) as f:
        readme = f.read()
    block = readme.split("<!-- own-system -->", 2)[1]
    code = re.search(r"```python\n(.*?)```", block, re.DOTALL).group(1)
    monkeypatch.chdir(tmp_path)
    os.symlink(os.path.dirname(tiny["audio_llm"]), tmp_path / "tiny")
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    assert (tmp_path / "runs" / "echo" / "report.md").exists()
    assert namespace["report"]["counts"]["total"]["items_scored"] == 8  # 2 queries of each of the 4 subsets


def test_missing_or_wrong_models_fail_at_start_up_in_one_message(tmp_path, tiny, responses, capsys):
    """Checked from config files before any data is prepared or model loaded: every wrong setting at once."""
    out = tmp_path / "run"
    started = time.perf_counter()
    rc = cli.main(["evaluate", "--system", "cascade", "--asr", "openai/whisper-large-v3", "--llm", tiny["asr"],
                   "--dataset_config", "sample", "--output", str(out), "--judge_mode", "multistage",
                   "--judge_asr_model", tiny["asr"], "--judge_audio_llm", tiny["audio_llm"],
                   "--judge_rubric_model", str(tmp_path / "no_such_model")])
    err = capsys.readouterr().err
    assert rc == 2 and time.perf_counter() - started < 5
    assert "3 settings are wrong" in err
    assert "--asr 'openai/whisper-large-v3': not a local folder, and not in the Hub cache" in err
    assert "--llm" in err and "text_llm" in err  # a Whisper checkpoint given as the LLM
    assert "--judge_rubric_model" in err and "no_such_model" in err
    assert not out.exists()  # no work was started


def test_the_rerun_of_a_finished_run_loads_no_model(tmp_path, tiny, monkeypatch, capsys):
    out = tmp_path / "run"
    args = ["evaluate", "--system", "cascade", "--asr", tiny["asr"], "--llm", tiny["text_llm"], "--max_new_tokens", "8",
            "--dataset_config", "sample", "--limit", "1", "--output", str(out), "--n_resamples", "50", "--judge_mode",
            "reward_model", "--judge_audio_llm", tiny["audio_llm"]]
    assert cli.main(args) == 0
    first = (out / "report.json").read_text()
    written = {name: (out / name).stat().st_mtime_ns for name in ("report.json", "report.md", "report.png")}

    def no_loading(self, *args, **kwargs):
        raise AssertionError(f"{type(self).__name__} loaded a model for a finished run")

    from parass2s_hf import models

    for backend in (models.ASRBackend, models.TextLLMBackend, models.AudioLLMBackend):
        monkeypatch.setattr(backend, "__init__", no_loading)
    started = time.perf_counter()
    assert cli.main(args) == 0
    seconds = time.perf_counter() - started
    assert (out / "report.json").read_text() == first
    # nothing changed, so the report is not computed again (bootstrap and figure are most of a rerun's time)
    assert {name: (out / name).stat().st_mtime_ns for name in written} == written
    assert seconds < 10, seconds  # about 1 s on a quiet 2-core machine: benchmarks/bench_startup.py
    assert "cascade" in capsys.readouterr().out  # the table is printed again
    # a report setting that changes its numbers computes it again
    assert cli.main([*args, "--confidence", "0.9"]) == 0
    assert (out / "report.json").stat().st_mtime_ns != written["report.json"]
    assert '"confidence": 0.9' in (out / "report.json").read_text()
    capsys.readouterr()


def test_the_default_judge_offline_names_its_missing_models_before_loading(tmp_path):
    """The README's `ParaS2SJudge(JudgeConfig(...))` snippet without the checkpoints: one message naming every missing
    model, before any model loads, instead of a long `OSError` from the Hub client."""
    from parass2s_hf.judge import JudgeConfig, JudgeItem, ParaS2SJudge
    from parass2s_hf.models.preflight import PreflightError

    started = time.perf_counter()
    with pytest.raises(PreflightError) as caught:
        ParaS2SJudge(JudgeConfig()).score([JudgeItem(tone(1.0), tone(1.0, 300), 16000)])
    message = str(caught.value)
    assert time.perf_counter() - started < 5 and message.startswith("3 settings are wrong:")
    for setting in ("asr_model 'openai/whisper-large-v3'", "audio_llm 'Qwen/Qwen2-Audio-7B-Instruct'",
                    "rubric_model 'Qwen/Qwen2.5-7B-Instruct'"):
        assert setting in message
