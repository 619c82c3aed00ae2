"""`parass2s versus`: two runs of `sample` judged pairwise. A judge with a known preference gives the expected win
rates, a position-biased one only ties; failures, resuming, folder checks; the command on tiny checkpoints."""

import json

import pytest
from conftest import tone
from test_evaluation import ScriptedJudge, ScriptedSystem
from test_judge import ScriptedASR, ScriptedAudioLLM, ScriptedRubric
from test_pairwise import LengthRubric

from parass2s_hf import cli
from parass2s_hf.evaluation import EvaluationConfig, EvaluationRunner
from parass2s_hf.evaluation.versus import VersusConfig, VersusRunner, summarize
from parass2s_hf.io import JsonlLog
from parass2s_hf.judge import JudgeConfig, ParaS2SJudge
from parass2s_hf.s2s import S2SResponse


class SecondsSystem(ScriptedSystem):
    """Answers every row with a tone of `seconds` (per record id where `per_id` says otherwise)."""

    def __init__(self, seconds, per_id=None, tag="len", **kw):
        super().__init__(tag=f"{tag}{seconds}", **kw)
        self.seconds, self.per_id = seconds, per_id or {}

    def respond(self, rows, sample_index=0):
        out = []
        for row, default in zip(rows, super().respond(rows, sample_index)):
            seconds = self.per_id.get(row["id"], self.seconds)
            out.append(default if row["id"] in self.behaviour else
                       S2SResponse(tone(seconds, 200), 16000, text=f"{seconds} s"))
        return out


def make_run(tmp_path, dataset, name, system, label=None, **kw):
    cfg = EvaluationConfig(output_dir=str(tmp_path / name), dataset_config="sample", batch_size=16, n_resamples=50,
                           label=label or name, **kw)
    EvaluationRunner(system, ScriptedJudge(), cfg, dataset=dataset).run()
    return str(tmp_path / name)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, sample_test):
    tmp = tmp_path_factory.mktemp("versus_runs")
    long_run = make_run(tmp, sample_test, "long", SecondsSystem(1.5))
    short_run = make_run(tmp, sample_test, "short", SecondsSystem(0.8))
    return long_run, short_run


def pairwise_judge(rubric):
    return ParaS2SJudge(JudgeConfig(), asr=ScriptedASR(), audio_llm=ScriptedAudioLLM(), rubric=rubric)


def versus(tmp_path, runs, rubric, dataset, name="vs", **kw):
    cfg = VersusConfig(output_dir=str(tmp_path / name), n_resamples=200, batch_size=16, **kw)
    return VersusRunner(*runs, pairwise_judge(rubric), cfg, dataset=dataset)


def test_a_known_preference_gives_the_expected_win_rate(tmp_path, two_runs, sample_test):
    summary = versus(tmp_path, two_runs, LengthRubric([]), sample_test).run()
    overall = summary["overall"]
    assert (overall["wins"], overall["ties"], overall["losses"], overall["judged"]) == (48, 0, 0, 48)
    assert overall["win_rate"] == 1.0 and overall["position_consistency"] == 1.0
    assert set(summary["subsets"]) == {"age", "emotion", "gender", "sarcasm"}
    assert sum(c["judged"] for c in summary["subsets"].values()) == 48
    assert summary["systems"]["a"]["label"] == "long" and summary["systems"]["b"]["label"] == "short"
    # the other way round: B wins everything
    flipped = versus(tmp_path, two_runs[::-1], LengthRubric([]), sample_test, name="flipped").run()
    assert flipped["overall"]["win_rate"] == 0.0 and flipped["overall"]["losses"] == 48
    out = tmp_path / "vs"
    for name in ("versus.json", "versus.md", "versus.png", "versus.jsonl", "versus_run.json"):
        assert (out / name).exists(), name
    md = (out / "versus.md").read_text()
    assert "| **overall** | 48 | 0 | 0 | 1.000" in md and "position-consistent" in md
    assert json.loads((out / "versus.json").read_text())["format"] == "parass2s-versus"


def test_a_first_position_judge_gives_only_ties(tmp_path, two_runs, sample_test):
    summary = versus(tmp_path, two_runs, ScriptedRubric(['{"better": "1"}']), sample_test).run()
    overall = summary["overall"]
    assert (overall["wins"], overall["ties"], overall["losses"]) == (0, 48, 0)
    assert overall["win_rate"] == 0.5 and overall["position_consistency"] == 0.0
    assert summary["counts"]["position_inconsistent"] == 48
    assert overall["ci"] == [0.5, 0.5]


def test_mixed_preferences_and_the_interval(tmp_path, sample_test):
    ids = sample_test["id"]
    # A is longer on the first 36 queries, shorter on 12: a win rate of 0.75
    a = make_run(tmp_path, sample_test, "a", SecondsSystem(1.5, per_id={i: 0.5 for i in ids[36:]}))
    b = make_run(tmp_path, sample_test, "b", SecondsSystem(1.0))
    overall = versus(tmp_path, (a, b), LengthRubric([]), sample_test).run()["overall"]
    assert (overall["wins"], overall["losses"]) == (36, 12) and overall["win_rate"] == 0.75
    low, high = overall["ci"]
    assert low < 0.75 < high and high - low < 0.4


def test_failures_are_counted_never_decided(tmp_path, sample_test):
    ids = sample_test["id"]
    a = make_run(tmp_path, sample_test, "a", SecondsSystem(0.6, behaviour={ids[0]: "error", ids[1]: "silent"}))
    b = make_run(tmp_path, sample_test, "b", SecondsSystem(1.2, behaviour={ids[2]: "empty"}))
    rubric = LengthRubric([])
    summary = versus(tmp_path, (a, b), rubric, sample_test).run()
    lines = {line["id"]: line for line in JsonlLog(tmp_path / "vs" / "versus.jsonl")}
    assert lines[ids[0]]["status"] == "system_error" and lines[ids[0]]["preference"] is None
    assert "system A failed: model refused" in lines[ids[0]]["reason"]
    assert lines[ids[1]]["preference"] == "b" and lines[ids[1]]["method"] == "empty_response"  # silent A loses
    assert lines[ids[2]]["preference"] == "a" and lines[ids[2]]["method"] == "empty_response"  # 0-sample B loses
    assert summary["counts"]["system_error"] == 1 and summary["overall"]["judged"] == 47
    assert summary["overall"]["wins"] == 1 and summary["overall"]["losses"] == 46
    assert len(rubric.seen) == 2 * 45  # the empty ones were decided without a call
    assert "with a system error" in (tmp_path / "vs" / "versus.md").read_text()


class StopAfter(LengthRubric):
    """Raises KeyboardInterrupt (a killed process) on its `stop`-th call."""

    def __init__(self, stop):
        super().__init__([])
        self.stop, self.calls = stop, 0

    def generate(self, messages, max_new_tokens):
        self.calls += 1
        if self.calls == self.stop:
            raise KeyboardInterrupt
        return super().generate(messages, max_new_tokens)


def test_a_killed_versus_resumes_without_redoing_finished_comparisons(tmp_path, two_runs, sample_test):
    with pytest.raises(KeyboardInterrupt):
        versus(tmp_path, two_runs, StopAfter(stop=2), sample_test).run()
    assert len(list(JsonlLog(tmp_path / "vs" / "versus.jsonl"))) == 16  # the first batch is kept
    rubric = LengthRubric([])
    summary = versus(tmp_path, two_runs, rubric, sample_test).run()
    assert len(rubric.seen) == 2 * 32 and summary["overall"]["judged"] == 48
    again = LengthRubric([])
    assert versus(tmp_path, two_runs, again, sample_test).run()["overall"] == summary["overall"]
    assert again.seen == []


def test_folder_and_input_checks(tmp_path, two_runs, sample_test):
    versus(tmp_path, two_runs, LengthRubric([]), sample_test, limit=1).run()
    with pytest.raises(ValueError, match="other settings.*judge_fingerprint.*--overwrite"):
        VersusRunner(*two_runs, ParaS2SJudge(JudgeConfig(mode="end2end"), audio_llm=ScriptedAudioLLM()),
                     VersusConfig(output_dir=str(tmp_path / "vs"), n_resamples=10), dataset=sample_test).run()
    with pytest.raises(ValueError, match="not an evaluation run folder"):
        versus(tmp_path, (two_runs[0], str(tmp_path)), LengthRubric([]), sample_test)
    with pytest.raises(ValueError, match="two different runs"):
        versus(tmp_path, (two_runs[0], two_runs[0]), LengthRubric([]), sample_test)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        VersusConfig(output_dir="x", batch_size=0)


def test_summary_averages_samples_per_query_first():
    lines = [{"id": "q1", "sample": 0, "subset": "emotion", "status": "ok", "preference": "a", "position_consistent": True},
             {"id": "q1", "sample": 1, "subset": "emotion", "status": "ok", "preference": "b", "position_consistent": True},
             {"id": "q2", "sample": 0, "subset": "age", "status": "ok", "preference": "tie",
              "position_consistent": False},
             {"id": "q3", "sample": 0, "subset": "age", "status": "missing", "preference": None,
              "position_consistent": None, "reason": "order ab: no verdict after 2 attempt(s): ..."}]
    summary = summarize(lines, n_resamples=100)
    assert summary["overall"]["win_rate"] == 0.5 and summary["overall"]["judged"] == 3
    assert summary["subsets"]["age"]["comparisons"] == 2 and summary["subsets"]["age"]["judged"] == 1
    assert summary["overall"]["position_consistency"] == round(2 / 3, 4)
    assert summary["counts"]["missing"] == 1
    assert summary["failure_reasons"] == {"order ab: no verdict after # attempt(s): ...": 1}


def test_the_versus_command_on_tiny_checkpoints(tmp_path, two_runs, tiny, capsys):
    out = tmp_path / "vs"
    code = cli.main(["versus", *two_runs, "--output", str(out), "--limit", "1", "--judge_mode", "reward_model",
                     "--judge_audio_llm", tiny["audio_llm"], "--judge_asr_model", tiny["asr"],
                     "--judge_rubric_model", tiny["text_llm"], "--n_resamples", "50", "--quiet"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "| **overall** |" in printed.out and "no comparison prompt" in printed.out
    summary = json.loads((out / "versus.json").read_text())
    assert summary["overall"]["judged"] == 4 and summary["judge_mode"] == "reward_model"
    assert all(line["method"] == "expected_scores" for line in JsonlLog(out / "versus.jsonl"))
    assert (out / "versus.png").stat().st_size > 1000


def test_the_command_names_bad_input(tmp_path, two_runs, capsys):
    with pytest.raises(SystemExit):
        cli.main(["versus", two_runs[0], "--output", str(tmp_path / "x")])
    assert "give exactly two run folders (got 1" in capsys.readouterr().err
    assert cli.main(["versus", two_runs[0], str(tmp_path), "--output", str(tmp_path / "x")]) == 2
    assert "is not an evaluation run folder" in capsys.readouterr().err


def test_versus_rows_of_the_same_query_share_perception(tmp_path, two_runs, sample_test):
    rubric = LengthRubric([])
    runner = versus(tmp_path, two_runs, rubric, sample_test, limit=1)
    runner.run()
    # the queries' words come from the dataset; each run answers every query with the same tone: 2 clips transcribed
    # for 4 comparisons in 2 orders
    assert runner.judge.stats()["asr"]["inputs"] == 2 and len(rubric.seen) == 8
