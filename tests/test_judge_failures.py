"""Degenerate clips and bad pairs: no clip length crashes any mode; an empty, silent or too short response is
`empty_response` with score 1 in the judge, the metric, the runner and the RL reward; a reward model that does not
answer with a digit is `low_digit_mass`, never a score; one bad pair never takes a batch down."""

import os

import numpy as np
import pytest
from conftest import tone
from test_judge import QUERY, REPLIES, scripted_judge, tiny_config

from parass2s_hf.audio import load_audio, sounding_seconds
from parass2s_hf.judge import JudgeItem, ParaS2SJudge

SHORT = {"10 ms": tone(0.01, 300), "50 ms": tone(0.05, 300), "silent 1 s": np.zeros(16000, np.float32),
         "50 ms in 2 s of silence": np.concatenate([np.zeros(16000, np.float32), tone(0.05, 300),
                                                    np.zeros(16000, np.float32)])}


def test_sounding_seconds_counts_the_part_that_sounds():
    assert sounding_seconds(tone(1.0), 16000) == pytest.approx(1.0)
    assert sounding_seconds(SHORT["50 ms in 2 s of silence"], 16000) == pytest.approx(0.05, abs=0.011)
    assert sounding_seconds(np.zeros(16000, np.float32), 16000) == 0.0
    assert load_audio(SHORT["10 ms"], 16000).sounding_seconds == pytest.approx(0.01)


@pytest.mark.parametrize("mode", ["multistage", "end2end", "reward_model"])
def test_degenerate_responses_score_one_in_every_mode_and_no_clip_length_crashes(tiny, mode):
    judge = ParaS2SJudge(tiny_config(tiny, mode=mode))
    batch = [JudgeItem(QUERY, clip, 16000, dimension="emotion", item_id=name) for name, clip in SHORT.items()]
    batch.append(JudgeItem(QUERY, REPLIES[0], 16000, dimension="emotion", item_id="good"))
    results = judge.score(batch)
    for r in results[:-1]:
        assert (r.status, r.score, r.score_expected) == ("empty_response", 1, 1.0), (r.item_id, r.reason)
    assert "silent" in results[2].reason and "min_response_seconds=0.1" in results[3].reason
    assert results[-1].status in ("ok", "missing") and results[-1].item_id == "good"
    # with the floor off, the short clips reach the models, as queries and as responses, and nothing crashes
    # (Qwen2-Audio's processor gives a 10-ms clip no audio token and a 60-ms clip one, which crashed the model)
    raw = ParaS2SJudge(tiny_config(tiny, mode=mode, min_response_seconds=0.0))
    pairs = [JudgeItem(QUERY, SHORT["10 ms"], 16000), JudgeItem(QUERY, SHORT["50 ms"], 16000),
             JudgeItem(SHORT["10 ms"], SHORT["50 ms"], 16000), JudgeItem(SHORT["50 ms"], SHORT["10 ms"], 16000)]
    for r in raw.score(pairs[:2]) + raw.score(pairs[2:]):
        assert r.status in ("ok", "missing"), r.reason
    if mode == "reward_model":
        assert all(r.status == "ok" for r in raw.score(pairs))


def test_empty_responses_ask_no_model():
    judge = scripted_judge(["Score: 4"])
    results = judge.score([JudgeItem(QUERY, clip, 16000, dimension="emotion") for clip in SHORT.values()])
    assert [r.score for r in results] == [1, 1, 1, 1]
    assert judge.stats().get("rubric") is None or judge.rubric.stats == {}
    assert judge.stats()["empty_response"] == 4


def test_a_reward_model_that_does_not_answer_with_a_digit_is_missing(tiny, tmp_path):
    """A plain random audio LLM puts about 1% of the next-token probability on "1".."5": its expected score would be
    a number made of noise. The tiny reward model of `parass2s_hf.testing` passes the floor honestly."""
    from parass2s_hf.testing import build_tiny_audio_llm

    plain = build_tiny_audio_llm(str(tmp_path / "plain"), reward_digits=False)
    items = [JudgeItem(QUERY, r, 16000, dimension="emotion") for r in REPLIES[:2]]
    results = ParaS2SJudge(tiny_config(tiny, mode="reward_model", reward_model=plain)).score(items)
    for r in results:
        assert r.status == "missing" and r.score is None and r.score_expected is None
        assert r.reason.startswith("low_digit_mass: the digits 1-5 hold ") and "min_digit_mass=0.5" in r.reason
        assert r.perception["digit_probability_mass"] < 0.05
    anyway = ParaS2SJudge(tiny_config(tiny, mode="reward_model", reward_model=plain, min_digit_mass=0.0)).score(items)
    assert all(r.status == "ok" for r in anyway)
    tiny_rm = ParaS2SJudge(tiny_config(tiny, mode="reward_model")).score(items)
    assert all(r.status == "ok" and r.perception["digit_probability_mass"] > 0.5 for r in tiny_rm)


def test_metric_keeps_the_good_pairs_of_a_batch_with_a_bad_one():
    import evaluate

    import parass2s_hf  # noqa: F401

    metric = evaluate.load("parass2s_judge", judge=scripted_judge(["Score: 4"]))
    nan = np.full(16000, np.nan, np.float32)
    out = metric.compute(query_audio=[QUERY, QUERY, QUERY], response_audio=[REPLIES[0], nan, np.zeros(8000)],
                         dimension=["emotion"] * 3)
    assert out["status"] == ["ok", "invalid_input", "empty_response"]
    assert out["score"] == pytest.approx(2.5) and out["num_scored"] == 2  # the good 4 and the silent 1
    assert (out["num_invalid"], out["num_empty"], out["num_missing"]) == (1, 1, 0)
    assert "NaN" in out["per_item"][1]["reason"]
    assert out["per_dimension"]["emotion"] == {"score": 2.5, "num_scored": 2, "num": 3}


class SilentRenderer:
    """Speaks every reply as near-silence (what `[style: warm] ...`-like replies come out as)."""

    name = "silent"

    def render(self, text, style, voice_key=""):
        return load_audio(np.zeros(8000, np.float32), 16000, name="silence")

    def voice(self, style, voice_key=""):
        return "none"


def test_the_rl_reward_gives_empty_replies_the_minimum():
    from parass2s_hf.align import ParaS2SReward

    query = {"array": QUERY, "sampling_rate": 16000}
    judge = scripted_judge(["Score: 4"])
    reward = ParaS2SReward(judge, "espeak-ng")
    assert reward(None, ["[style: warm] ...", "[style: warm] ", "[style: calm] Take care."], audio=[query] * 3) == \
        [1.0, 1.0, 4.0]
    assert reward.empty == {"no_words": 2}
    silent = ParaS2SReward(scripted_judge(["Score: 4"]), SilentRenderer())
    assert silent(None, ["[style: warm] Hello there."], audio=[query]) == [1.0]
    assert silent.empty == {"empty_response": 1} and silent.missing == {}


def test_the_runner_records_a_too_short_response_as_empty(tmp_path, sample_test):
    from test_evaluation import ScriptedSystem

    from parass2s_hf.evaluation import EvaluationConfig, EvaluationRunner
    from parass2s_hf.io import JsonlLog
    from parass2s_hf.s2s import S2SResponse

    class Beeps(ScriptedSystem):
        def respond(self, rows, sample_index=0):
            return [S2SResponse(tone(0.05, 300), 16000, text="hm") if i == 0 else
                    S2SResponse(tone(0.8, 220), 16000, text="reply") for i, _ in enumerate(rows)]

    dataset = sample_test.select(range(2))
    cfg = EvaluationConfig(output_dir=str(tmp_path / "run"), dataset_config="sample", batch_size=2, n_resamples=50)
    EvaluationRunner(Beeps(), scripted_judge(["Score: 4"]), cfg, dataset=dataset).run()
    records = list(JsonlLog(os.path.join(cfg.output_dir, "results.jsonl")))
    assert [(r["status"], r["score"]) for r in records] == [("empty_response", 1), ("ok", 4)]
    assert "min_response_seconds" in records[0]["reason"]
