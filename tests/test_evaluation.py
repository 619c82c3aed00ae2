"""The evaluation runner: records, failures, resumption after a crash, run-folder checks, report numbers.

The system and judge here are scripted (tests only): they make the expected numbers known in advance. The real
systems and the tiny-checkpoint judge run end to end through the CLI in `test_evaluation_cli.py`.
"""

import json
import os
from collections import defaultdict

import numpy as np
import pytest
from conftest import tone

from parass2s_hf.constants import SCORE_MIN
from parass2s_hf.evaluation import EvaluationConfig, EvaluationRunner
from parass2s_hf.evaluation.records import subset_of
from parass2s_hf.io import JsonlLog
from parass2s_hf.judge import JudgeConfig
from parass2s_hf.judge.items import JudgeResult
from parass2s_hf.s2s import S2SResponse


class ScriptedSystem:
    """Answers each row with a tone; `behaviour` maps record ids to 'raise', 'error', 'empty', 'silent', 'stereo44k',
    'nan' or 'crash' (raises KeyboardInterrupt: a process killed mid-run)."""

    name = "scripted"

    def __init__(self, behaviour=None, tag="v1"):
        self.behaviour = behaviour or {}
        self.tag = tag
        self.calls = []

    def config(self):
        return {"tag": self.tag}

    def respond(self, rows, sample_index=0):
        out = []
        for row in rows:
            self.calls.append((row["id"], sample_index))
            assert row["audio"]["array"].dtype == np.float32 and row["audio"]["sampling_rate"] == 16000
            what = self.behaviour.get(row["id"])
            if what == "raise":
                raise RuntimeError(f"boom on {row['id']}")
            if what == "crash":
                raise KeyboardInterrupt
            if what == "error":
                out.append(S2SResponse(None, None, error="model refused"))
            elif what == "empty":
                out.append(S2SResponse(np.zeros(0, np.float32), 16000, text=""))
            elif what == "silent":
                out.append(S2SResponse(np.zeros(16000, np.float32), 16000, text="..."))
            elif what == "stereo44k":
                out.append(S2SResponse(np.stack([tone(1.0, 300, 44100)] * 2, axis=1), 44100, text="stereo"))
            elif what == "nan":
                out.append(S2SResponse(np.full(1600, np.nan, np.float32), 16000))
            else:
                out.append(S2SResponse(tone(0.5 + 0.1 * sample_index, 200), 16000, text=f"reply {sample_index}",
                                       info={"sample": sample_index}))
        return out


def scripted_score(item_id, style):
    """A score known in advance: depends on the record and nothing else."""
    return 1 + (sum(map(ord, item_id + style)) % 5)


class ScriptedJudge:
    def __init__(self, missing=(), mode="multistage"):
        self.config = JudgeConfig(mode=mode)
        self.missing = set(missing)
        self.seen = []

    def score(self, items):
        results = []
        for item in items:
            self.seen.append(item)
            assert os.path.exists(item.response_audio)
            if item.item_id in self.missing:
                results.append(JudgeResult(status="missing", reason="no score in the answer", item_id=item.item_id))
                continue
            s = scripted_score(item.item_id, item.query_style)
            results.append(JudgeResult(score=s, score_expected=s - 0.25, status="ok", item_id=item.item_id,
                                       perception={"response_text": "x"}))
        return results


def run(tmp_path, dataset, system=None, judge=None, name="run", **kwargs):
    cfg = EvaluationConfig(output_dir=str(tmp_path / name), dataset_config="sample", batch_size=4, n_resamples=200,
                           **kwargs)
    runner = EvaluationRunner(system or ScriptedSystem(), judge or ScriptedJudge(), cfg, dataset=dataset)
    return runner, runner.run()


def results(folder):
    return {(r["id"], r["sample"]): r for r in JsonlLog(os.path.join(folder, "results.jsonl"))}


def without_measured_times(report):
    """A report without the system's generation times (and real-time factors): measured on the machine as each
    response was made, they are the one part a rerun (or a resumed run) does not reproduce."""
    report = json.loads(json.dumps(report))
    for cell in report["signals"]["columns"].values():
        cell.pop("generate_seconds"), cell.pop("rtf")
    return report


def test_every_row_is_generated_judged_and_written(tmp_path, sample_test):
    _runner, _report = run(tmp_path, sample_test)
    out = tmp_path / "run"
    for name in ("run.json", "generations.jsonl", "results.jsonl", "manifest.json", "report.json", "report.md",
                 "report.png"):
        assert (out / name).exists(), name
    got = results(out)
    assert len(got) == len(sample_test) == 48
    for row in sample_test.select_columns(["id", "style", "dimension"]):
        r = got[(row["id"], 0)]
        assert r["status"] == "ok" and r["score"] == scripted_score(row["id"], row["style"])
        assert (out / r["response_path"]).exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["system"]["name"] == "scripted" and manifest["judge"]["fingerprint"] == JudgeConfig().fingerprint()
    assert manifest["packages"]["datasets"] and manifest["dataset"]["config"] == "sample"


def test_report_numbers_match_the_scripted_judge(tmp_path, sample_test):
    _, report = run(tmp_path, sample_test)
    by_subset = defaultdict(list)
    for row in sample_test.select_columns(["id", "style", "dimension", "source"]):
        by_subset[subset_of(row)].append(scripted_score(row["id"], row["style"]))
    columns, expected = report["score"]["columns"], report["score_expected"]["columns"]
    for name, scores in by_subset.items():
        assert columns[name]["mean"] == pytest.approx(np.mean(scores), abs=1e-4)
        assert columns[name]["n"] == len(scores) == 12
        assert expected[name]["mean"] == pytest.approx(np.mean(scores) - 0.25, abs=1e-4)
        lo, hi = columns[name]["ci"]
        assert lo <= np.mean(scores) <= hi
    synthetic = np.mean([np.mean(by_subset[d]) for d in ("age", "emotion", "gender", "sarcasm")])
    assert columns["synthetic_average"]["mean"] == pytest.approx(synthetic, abs=1e-4)
    assert columns["overall"]["mean"] is None and columns["real_average"]["mean"] is None  # no IEMOCAP/MELD here
    assert set(report["score"]["absent"]) == {"iemocap", "meld"}
    md = (tmp_path / "run" / "report.md").read_text()
    assert "| age | emotion | gender | sarcasm |" in md.replace("  ", " ")


def test_failures_are_recorded_and_the_run_goes_on(tmp_path, sample_test):
    ids = sample_test["id"]
    behaviour = {ids[0]: "raise", ids[1]: "error", ids[2]: "empty", ids[3]: "silent", ids[4]: "stereo44k",
                 ids[5]: "nan"}
    judge = ScriptedJudge(missing={ids[6]})
    _, report = run(tmp_path, sample_test, system=ScriptedSystem(behaviour), judge=judge)
    got = results(tmp_path / "run")
    status = {i: got[(i, 0)]["status"] for i in ids[:8]}
    assert status[ids[0]] == status[ids[1]] == status[ids[5]] == "system_error"
    assert "boom" in got[(ids[0], 0)]["reason"] and "refused" in got[(ids[1], 0)]["reason"]
    assert "NaN" in got[(ids[5], 0)]["reason"] or "nan" in got[(ids[5], 0)]["reason"].lower()
    assert status[ids[2]] == status[ids[3]] == "empty_response"
    assert got[(ids[2], 0)]["score"] == got[(ids[3], 0)]["score"] == SCORE_MIN
    assert status[ids[4]] == "ok" and got[(ids[4], 0)]["response_seconds"] == pytest.approx(1.0, abs=0.01)
    assert status[ids[6]] == "missing" and got[(ids[6], 0)]["score"] is None
    assert status[ids[7]] == "ok"
    # the judge never heard the failed or empty responses
    assert {i.item_id for i in judge.seen}.isdisjoint({ids[0], ids[1], ids[2], ids[3], ids[5]})
    counts = report["counts"]["total"]["status"]
    assert counts["system_error"] == 3 and counts["empty_response"] == 2 and counts["missing"] == 1


def test_a_crashed_run_resumes_without_redoing_finished_items(tmp_path, sample_test):
    _, reference = run(tmp_path, sample_test, name="reference")
    ids = sample_test["id"]
    crashing = ScriptedSystem({ids[21]: "crash"})
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, sample_test, system=crashing, name="crashed")
    done_before = set(results(tmp_path / "crashed"))
    assert done_before == set()  # generation comes first; nothing judged yet
    generated = {(r["id"], r["sample"]) for r in JsonlLog(tmp_path / "crashed" / "generations.jsonl")}
    assert len(generated) == 20  # five whole batches of 4 before the one that crashed
    again = ScriptedSystem()
    _, resumed = run(tmp_path, sample_test, system=again, name="crashed")
    assert set(again.calls).isdisjoint(generated) and len(again.calls) == 48 - 20
    assert without_measured_times(resumed) == without_measured_times(reference)


def test_torn_last_line_is_dropped_and_redone(tmp_path, sample_test):
    _runner, first = run(tmp_path, sample_test)
    path = tmp_path / "run" / "results.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # a write cut by kill -9
    judge = ScriptedJudge()
    _, second = run(tmp_path, sample_test, judge=judge)
    assert len(judge.seen) == 1 and second == first


def test_rerun_of_a_finished_run_does_nothing(tmp_path, sample_test):
    _, first = run(tmp_path, sample_test)
    system, judge = ScriptedSystem(), ScriptedJudge()
    _, second = run(tmp_path, sample_test, system=system, judge=judge)
    assert system.calls == [] and judge.seen == [] and second == first


def test_folder_with_other_settings_is_refused_unless_overwrite(tmp_path, sample_test):
    run(tmp_path, sample_test)
    # the refusal names each setting that differs, old and new
    with pytest.raises(ValueError, match=r"other settings \(system\.tag: 'v1' -> 'v2'\)\..*--overwrite"):
        run(tmp_path, sample_test, system=ScriptedSystem(tag="v2"))
    # only the judge changed: responses are kept, everything is judged again
    system = ScriptedSystem()
    judge = ScriptedJudge(mode="end2end")
    run(tmp_path, sample_test, system=system, judge=judge, overwrite=True)
    assert system.calls == [] and len(judge.seen) == 48
    # the system changed: everything is generated again
    system = ScriptedSystem(tag="v2")
    run(tmp_path, sample_test, system=system, judge=judge, overwrite=True)
    assert len(system.calls) == 48


def test_limit_dimensions_and_samples(tmp_path, sample_test):
    system = ScriptedSystem()
    _, report = run(tmp_path, sample_test, system=system, limit=3, dimensions=["age", "gender"], num_samples=2)
    assert len(system.calls) == 3 * 2 * 2
    columns = report["score"]["columns"]
    assert columns["age"]["n"] == columns["gender"]["n"] == 3 and columns["emotion"]["mean"] is None
    got = results(tmp_path / "run")
    assert {k[1] for k in got} == {0, 1} and len(got) == 12


def test_retry_failed(tmp_path, sample_test):
    ids = sample_test["id"]
    run(tmp_path, sample_test, system=ScriptedSystem({ids[0]: "raise"}))
    system = ScriptedSystem()
    run(tmp_path, sample_test, system=system)
    assert system.calls == []  # a failure is a finished item
    run(tmp_path, sample_test, system=system, retry_failed=True)
    assert system.calls == [(ids[0], 0)]
    assert results(tmp_path / "run")[(ids[0], 0)]["status"] == "ok"


def test_bad_config_values():
    with pytest.raises(ValueError, match="Unknown dataset config 'nope'"):
        EvaluationConfig(output_dir="x", dataset_config="nope")
    with pytest.raises(ValueError, match="dimensions.*'pitch'"):
        EvaluationConfig(output_dir="x", dimensions=["pitch"])
    with pytest.raises(ValueError, match="num_samples"):
        EvaluationConfig(output_dir="x", num_samples=0)


def test_push_to_hub_uploads_results_not_audio(tmp_path, sample_test, monkeypatch):
    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kw):
            calls.append(("create", repo_id, kw))

        def upload_folder(self, **kw):
            calls.append(("upload", kw))
            return "commit-url"

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    run(tmp_path, sample_test, push_to_hub="me/results", dimensions=["age"])
    (_, repo, create), (_, upload) = calls
    assert repo == "me/results" and create["repo_type"] == "dataset"
    assert upload["folder_path"] == str(tmp_path / "run") and "*.flac" not in upload["allow_patterns"]
    assert {"*.json", "*.jsonl", "*.md", "*.png"} == set(upload["allow_patterns"])
