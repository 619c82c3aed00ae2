"""`parass2s evaluate` / `parass2s compare` end to end on the `sample` config with tiny local checkpoints, including
a run killed with SIGKILL and started again, and the README's main-job commands as written."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import soundfile as sf
from conftest import tone

from parass2s_hf import cli
from parass2s_hf.io import JsonlLog

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = "| system | age | emotion | gender | sarcasm | synth avg | IEMOCAP | MELD | real avg | overall |"
INTERVAL = re.compile(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]")


@pytest.fixture(scope="module")
def responses(tmp_path_factory, sample_test):
    """Precomputed responses for every sample row, at assorted rates and channel counts."""
    folder = tmp_path_factory.mktemp("responses")
    for i, rid in enumerate(sample_test["id"]):
        if i % 3 == 0:
            sf.write(folder / f"{rid}.wav", tone(0.6, 180 + 5 * i, 22050), 22050)
        elif i % 3 == 1:
            sf.write(folder / f"{rid}.flac", tone(0.5, 200 + 5 * i, 48000).repeat(2).reshape(-1, 2), 48000)
        else:
            sf.write(folder / f"{rid}.wav", tone(0.7, 220 + 5 * i), 16000)
    return folder


def judge_args(tiny):
    return ["--judge_mode", "reward_model", "--judge_audio_llm", tiny["audio_llm"], "--n_resamples", "200"]


def results(folder):
    return {(r["id"], r["sample"]): r for r in JsonlLog(os.path.join(folder, "results.jsonl"))}


def test_precomputed_cli_writes_the_table4_report(tmp_path, tiny, responses, capsys):
    out = tmp_path / "run"
    rc = cli.main(["evaluate", "--system", "precomputed", "--responses", str(responses), "--dataset_config", "sample",
                   "--output", str(out), "--label", "my-system", *judge_args(tiny)])
    assert rc == 0
    md = (out / "report.md").read_text()
    assert HEADER in md and "| my-system |" in md and len(INTERVAL.findall(md)) >= 8
    assert HEADER in capsys.readouterr().out  # the report is printed too
    got = results(out)
    assert len(got) == 48 and {r["status"] for r in got.values()} == {"ok"}
    assert all(1 <= r["score"] <= 5 and 1 <= r["score_expected"] <= 5 for r in got.values())
    assert sf.info(out / got[next(iter(got))]["response_path"]).samplerate == 16000


def test_missing_responses_are_listed_or_skipped(tmp_path, tiny, responses, sample_test, capsys):
    partial = tmp_path / "partial"
    partial.mkdir()
    keep = sample_test["id"][:40]
    for rid in keep:
        src = next(p for p in responses.iterdir() if p.stem == rid)
        (partial / src.name).write_bytes(src.read_bytes())
    args = ["evaluate", "--system", "precomputed", "--responses", str(partial), "--dataset_config", "sample",
            "--output", str(tmp_path / "run"), *judge_args(tiny)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "8 of 48 responses are missing" in err and sample_test["id"][47] in err and "--allow-missing" in err
    assert cli.main([*args, "--allow_missing"]) == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["skipped"]["count"] == 8 and sample_test["id"][40] in report["skipped"]["ids"]
    assert len(results(tmp_path / "run")) == 40


# the labelled topline runs all 48 items (about 8 s): slow, which .ci/run runs; the style-blind run keeps the path
@pytest.mark.parametrize("labelled", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_cascade_cli_on_sample(tmp_path, tiny, labelled):
    out = tmp_path / "run"
    rc = cli.main(["evaluate", "--system", "cascade", "--asr", tiny["asr"], "--llm", tiny["text_llm"], "--tts",
                   "espeak-ng", "--max_new_tokens", "12", "--dataset_config", "sample", "--output", str(out),
                   *(["--labelled"] if labelled else ["--limit", "2"]), *judge_args(tiny)])
    assert rc == 0
    got = results(out)
    assert len(got) == (48 if labelled else 8)
    # tiny random LLMs may say nothing: an empty reply is the system's failure, scored 1 and counted
    assert {r["status"] for r in got.values()} <= {"ok", "empty_response"}
    assert any(r["system_info"].get("transcript") is not None for r in got.values())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["system"]["config"]["labelled"] is labelled
    assert manifest["checkpoints"]["system.asr"]["path"] == os.path.abspath(tiny["asr"])
    assert HEADER in (out / "report.md").read_text()


def test_compare_builds_a_leaderboard(tmp_path, tiny, responses):
    for name in ("a", "b"):
        assert cli.main(["evaluate", "--system", "precomputed", "--responses", str(responses), "--dataset_config", "sample",
                         "--dimensions", "age", "gender", "--output", str(tmp_path / name), "--label", name,
                         *judge_args(tiny)]) == 0
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "lb")]) == 0
    md = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "| a |" in md and "| b |" in md and (tmp_path / "lb" / "leaderboard.png").stat().st_size > 0
    assert cli.main(["compare", str(tmp_path / "nope")]) == 2


def test_bad_cli_input(tmp_path, tiny, responses, capsys):
    base = ["evaluate", "--output", str(tmp_path / "run"), *judge_args(tiny)]
    with pytest.raises(SystemExit):  # argparse: a required argument is missing
        cli.main([*base])
    assert cli.main([*base, "--system", "nope"]) == 2
    assert "Unknown system 'nope'" in capsys.readouterr().err
    assert cli.main([*base, "--system", "precomputed", "--responses", str(responses), "--config", "nope"]) == 2
    assert "Unknown dataset config 'nope'" in capsys.readouterr().err
    assert cli.main([*base, "--system", "precomputed"]) == 2
    assert "needs --responses" in capsys.readouterr().err
    assert cli.main([*base, "--system", "precomputed", "--responses", str(tmp_path / "absent")]) == 2
    assert "absent" in capsys.readouterr().err


def _env(tmp_path):
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow  # two CLI processes end to end (about 15 s on 2 cores); .ci/run runs the slow tests too
def test_sigkill_mid_run_then_rerun_gives_the_same_report(tmp_path, tiny, responses):
    args = ["evaluate", "--system", "precomputed", "--responses", str(responses), "--dataset_config", "sample",
            "--batch_size", "1", *judge_args(tiny)]
    assert cli.main([*args, "--output", str(tmp_path / "reference")]) == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "parass2s_hf.cli", *args, "--output", str(killed)],
                            env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    path = killed / "results.jsonl"
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= 10:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = results(killed)
    assert 10 <= len(before) < 48 and not (killed / "report.json").exists()
    assert cli.main([*args, "--output", str(killed)]) == 0
    after = results(killed)
    assert all(after[k] == v for k, v in before.items())  # nothing finished was redone
    assert (killed / "report.json").read_text() == (tmp_path / "reference" / "report.json").read_text()


@pytest.mark.slow  # about 25 s; the README walk-through (slow too) runs the same command among all the others
def test_readme_main_job_runs_as_written(tmp_path):
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    block = readme.split("<!-- main-job -->", 2)[1]
    commands = re.search(r"```bash\n(.*?)```", block, re.DOTALL).group(1)
    env = {**_env(tmp_path), "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert HEADER in done.stdout
    # it scores: the tiny audio LLM is a tiny reward model above min_digit_mass, so no item is low_digit_mass
    with open(tmp_path / "runs" / "demo" / "report.json") as f:
        counts = json.load(f)["counts"]["total"]
    assert counts["items"] == 48 and counts["items_scored"] == 48 - counts["status"]["system_error"], counts
    assert counts["status"]["missing"] == 0 and counts["status"]["ok"] > 0, counts


@pytest.mark.slow
def test_omni_cli_on_sample(tmp_path, tiny):
    """The `omni` form end to end with a tiny Qwen2.5-Omni and a LoRA adapter on its thinker, on the CPU without
    torchvision (the inputs are built without the Omni processor). Its fingerprint carries the adapter's hash. About
    25 s on a 2-core CPU (the tiny judge and the vocoder): `-m slow`."""
    from test_omni_policy_inputs import FAST, save_thinker_lora

    from parass2s_hf.testing import build_tiny_omni

    path = build_tiny_omni(str(tmp_path / "omni"))
    adapter = save_thinker_lora(path, str(tmp_path / "lora"))
    out = tmp_path / "run"
    rc = cli.main(["evaluate", "--system", "omni", "--model", path, "--adapter", adapter, "--max_new_tokens", "6",
                   "--system_generate_kwargs", json.dumps(FAST), "--dataset_config", "sample",
                   "--limit", "1", "--output", str(out), *judge_args(tiny)])
    assert rc == 0
    got = results(out)
    assert len(got) == 4 and {r["status"] for r in got.values()} <= {"ok", "empty_response"}
    # the model spoke (a random token2wav speaks very quietly: below -60 dBFS it counts as a silent, empty response)
    assert all(r["response_path"] and r["response_seconds"] > 0 for r in got.values())
    assert HEADER in (out / "report.md").read_text()
    config = json.loads((out / "manifest.json").read_text())["system"]["config"]
    assert config["adapter"] == adapter and len(config["adapter_sha256"]) == 16


def test_openai_audio_cli_against_a_local_endpoint(tmp_path, tiny, monkeypatch):
    from test_s2s import audio_answer, serve

    monkeypatch.setenv("PARASS2S_TEST_KEY", "sk-very-secret")
    out = tmp_path / "run"
    with serve(audio_answer) as (base, received):
        rc = cli.main(["evaluate", "--system", "openai-audio", "--api_base", base, "--api_key_env",
                       "PARASS2S_TEST_KEY", "--dataset_config", "sample", "--limit", "1", "--output", str(out),
                       *judge_args(tiny)])
    assert rc == 0 and len(received) == 4
    got = results(out)
    assert len(got) == 4 and {r["status"] for r in got.values()} == {"ok"}
    assert {r["response_text"] for r in got.values()} == {"I am sorry to hear that."}
    for name in ("manifest.json", "results.jsonl", "generations.jsonl", "report.md", "run.json"):
        assert "sk-very-secret" not in (out / name).read_text()
