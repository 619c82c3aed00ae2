"""Pairwise judging (`ParaS2SJudge.compare`): verdicts read strictly, both orders asked, a position-biased judge gives
only ties, a known preference comes out as it is, every mode (scripted, tiny models, served), failures as in scoring."""

import numpy as np
import pytest
from conftest import tone
from test_judge import ScriptedASR, ScriptedAudioLLM, ScriptedRubric, tiny_config
from vllm_stub import VLLMStub

from parass2s_hf.judge import JudgeConfig, JudgeParseError, PairItem, ParaS2SJudge, parse_preference
from parass2s_hf.judge.pairwise import combine
from parass2s_hf.models import Generation

QUERY = tone(1.0, 180)
LONG, SHORT, MID = tone(1.5, 220), tone(0.8, 330), tone(1.2, 150)


def pairs(*couples, **kw):
    return [PairItem(QUERY, a, b, sampling_rate=16000, dimension="emotion", query_style="sad", item_id=f"c{i}", **kw)
            for i, (a, b) in enumerate(couples)]


@pytest.mark.parametrize("answer, verdict", [
    ('{"rationale": "reply 1 is flat", "better": "2"}', "second"),
    ('{"rationale": "x", "better": 1}', "first"),
    ('{"better": "Reply 2"}', "second"),
    ('{"better": "tie"}', "tie"),
    ("Better: Reply 1", "first"),
    ("**Winner:** tie", "tie"),
    ("[[2]]", "second"),
    ("2", "second"),
    ("The better reply is 1.", "first"),
])
def test_preferences_that_are_read(answer, verdict):
    assert parse_preference(answer) == verdict


@pytest.mark.parametrize("answer, problem", [
    ("reply 2 sounds warmer", "no preference"),
    ('{"better": "3"}', "names neither"),
    ('{"better": "both bad"}', "names neither"),
    ("Better: 1 or 2", "hedged"),
    ("Better: 1. Winner: 2", "conflicting"),
    ('{"better": "1"} [[2]]', "conflicting"),
    ("Better: 12", "no preference"),
    ("", "empty"),
])
def test_answers_without_a_verdict_are_refused_with_the_reason(answer, problem):
    with pytest.raises(JudgeParseError, match=problem):
        parse_preference(answer)


def test_both_orders_must_agree():
    assert combine("first", "second") == ("a", True)  # A first preferred, then B first not: A both times
    assert combine("second", "first") == ("b", True)
    assert combine("tie", "tie") == ("tie", True)
    assert combine("first", "first") == ("tie", False)  # always the first shown: the position, not the reply
    assert combine("first", "tie") == ("tie", False)


class LengthRubric(ScriptedRubric):
    """Prefers the reply with the longer transcript ("words of a 1.5 second clip"), wherever it is shown."""

    def generate(self, messages, max_new_tokens):
        import re

        self.stats.update(calls=1, inputs=len(messages))
        out = []
        for m in messages:
            self.seen.append(m)
            lengths = [float(x) for x in re.findall(r"Reply \d \(transcript\): words of a ([\d.]+) second",
                                                   m[-1]["content"])]
            better = "tie" if lengths[0] == lengths[1] else ("1" if lengths[0] > lengths[1] else "2")
            out.append(Generation(f'{{"rationale": "more words", "better": "{better}"}}'))
        return out


def judge_with(rubric, **kw):
    return ParaS2SJudge(JudgeConfig(**kw), asr=ScriptedASR(), audio_llm=ScriptedAudioLLM(), rubric=rubric)


def test_a_judge_that_always_prefers_the_first_reply_gives_only_ties():
    judge = judge_with(ScriptedRubric(['{"rationale": "the first is better", "better": "1"}']))
    results = judge.compare(pairs((LONG, SHORT), (SHORT, LONG), (MID, LONG)))
    assert [r.preference for r in results] == ["tie"] * 3
    assert [r.position_consistent for r in results] == [False] * 3
    assert all(r.verdicts == {"ab": "first", "ba": "first"} and r.status == "ok" for r in results)
    assert all("position-inconsistent" in r.reason for r in results)
    assert judge.stats()["compare_position_inconsistent"] == 3


def test_a_known_preference_comes_out_in_both_orders():
    rubric = LengthRubric([])
    judge = judge_with(rubric)
    results = judge.compare(pairs((LONG, SHORT), (SHORT, LONG), (MID, MID)))
    assert [r.preference for r in results] == ["a", "b", "tie"]
    assert [r.position_consistent for r in results] == [True, True, True]
    assert results[0].verdicts == {"ab": "first", "ba": "second"}
    assert results[0].method == "rubric" and results[0].rationale == {"ab": "more words", "ba": "more words"}
    assert results[0].perception["response_text"] == {"a": "words of a 1.5 second clip",
                                                     "b": "words of a 0.8 second clip"}
    # 6 prompts: each comparison in both orders; the "ba" prompt shows B's transcript as reply 1
    assert len(rubric.seen) == 6
    first_ba = rubric.seen[3][-1]["content"]
    assert first_ba.index("Reply 1 (transcript): words of a 0.8") < first_ba.index("Reply 2 (transcript): words of a 1.5")
    assert "How reply 1 sounds" in first_ba
    # the perception of each distinct clip once (the query is transcribed: its words are not given)
    assert judge.stats()["asr"]["inputs"] == 4  # LONG, SHORT, MID and the query


def test_without_the_tone_stage_the_prompt_has_no_tones():
    rubric = LengthRubric([])
    judge_with(rubric, use_response_tone=False).compare(pairs((LONG, SHORT)))
    assert "sounds" not in rubric.seen[0][-1]["content"]


def test_an_unreadable_verdict_is_missing_never_a_preference():
    rubric = ScriptedRubric(["reply 2 sounds warmer"])
    results = judge_with(rubric).compare(pairs((LONG, SHORT)))
    [r] = results
    assert r.status == "missing" and r.preference is None and r.position_consistent is None
    assert "order ab: no verdict after 2 attempt(s)" in r.reason and "order ba" in r.reason
    assert len(rubric.seen) == 4  # both orders, each retried once with the stricter prompt
    assert "could not be read" in rubric.seen[-1][-1]["content"]
    with pytest.raises(JudgeParseError, match="comparison 0, order ab"):
        judge_with(ScriptedRubric(["no idea"]), strict=True).compare(pairs((LONG, SHORT)))


def test_one_order_unreadable_makes_the_comparison_missing():
    rubric = ScriptedRubric(['{"better": "1"}', "hmm", "hmm"])  # ab read; ba and its retry not
    [r] = judge_with(rubric).compare(pairs((LONG, SHORT)))
    assert r.status == "missing" and r.preference is None and r.verdicts == {"ab": "first", "ba": None}


def test_an_empty_reply_loses_without_a_model_call_and_bad_audio_is_invalid():
    rubric = LengthRubric([])
    silence = np.zeros(16000, dtype=np.float32)
    results = judge_with(rubric).compare(pairs((silence, SHORT), (LONG, np.zeros(0, dtype=np.float32)),
                                               (silence, silence), (LONG, "/no/such/file.wav")))
    assert [r.preference for r in results[:3]] == ["b", "a", "tie"]
    assert all(r.method == "empty_response" and r.position_consistent is None for r in results[:3])
    assert "response A is empty: silent audio" in results[0].reason
    assert results[3].status == "invalid_input" and "comparison 3: response_b" in results[3].reason
    assert rubric.seen == []


def test_bad_items_are_named():
    with pytest.raises(ValueError, match="comparison 0: query_style 'happy!'"):
        judge_with(LengthRubric([])).compare([PairItem(QUERY, LONG, SHORT, 16000, dimension="emotion",
                                                       query_style="happy!")])
    with pytest.raises(TypeError, match="comparison 0: expected a PairItem"):
        judge_with(LengthRubric([])).compare([(QUERY, LONG, SHORT)])
    with pytest.raises(ValueError, match="comparison 0"):
        judge_with(LengthRubric([])).compare([{"query_audio": QUERY, "response": LONG}])


class ClipLengthAudioLLM(ScriptedAudioLLM):
    """End to end: hears three clips and prefers the longer reply."""

    def generate(self, conversations, audios, max_new_tokens):
        self.stats.update(calls=1, inputs=len(conversations), clips=sum(len(a) for a in audios))
        out = []
        for clips in audios:
            assert len(clips) == 3
            better = "1" if len(clips[1]) > len(clips[2]) else "2"
            out.append(Generation(f'{{"rationale": "longer", "better": "{better}"}}'))
        return out


def test_end_to_end_hears_the_query_and_both_replies_in_each_order():
    llm = ClipLengthAudioLLM()
    judge = ParaS2SJudge(JudgeConfig(mode="end2end"), audio_llm=llm)
    results = judge.compare(pairs((LONG, SHORT), (SHORT, LONG)))
    assert [(r.preference, r.position_consistent, r.method) for r in results] == [("a", True, "end2end"),
                                                                                  ("b", True, "end2end")]
    assert llm.stats["inputs"] == 4 and llm.stats["clips"] == 12


def test_end_to_end_and_reward_model_on_tiny_models(tiny):
    [r] = ParaS2SJudge(tiny_config(tiny, mode="end2end")).compare(pairs((LONG, SHORT)))
    assert r.status == "missing" and r.raw["ab"] and r.raw["ba"]  # a random model: no verdict, none invented
    judge = ParaS2SJudge(tiny_config(tiny, mode="reward_model"))
    [r] = judge.compare(pairs((LONG, SHORT)))
    a, b = judge.score([p.side(s) for p in pairs((LONG, SHORT)) for s in "ab"])
    assert r.method == "expected_scores" and r.position_consistent is None
    assert r.scores == {"a": a.score_expected, "b": b.score_expected}
    assert r.preference == ("a" if a.score_expected > b.score_expected else "b")
    [tie] = judge.compare(pairs((LONG, SHORT)), tie_margin=5.0)
    assert tie.preference == "tie"


def test_served_backends_compare_the_same_way():
    stub = VLLMStub()
    key = "PARASS2S_PAIRWISE_TEST_KEY"
    with pytest.MonkeyPatch.context() as mp, stub.serve() as url:
        mp.setenv(key, "sk-test")
        base = {"asr_model": "openai/whisper-large-v3", "audio_llm": "Qwen/Qwen2-Audio-7B-Instruct",
                "rubric_model": "Qwen/Qwen2.5-7B-Instruct", "asr_api_base": url, "audio_llm_api_base": url,
                "rubric_api_base": url, "api_key_env": key}
        multistage = ParaS2SJudge(JudgeConfig(**base)).compare(pairs((LONG, SHORT), (SHORT, LONG)))
        end2end = ParaS2SJudge(JudgeConfig(**base, mode="end2end")).compare(pairs((LONG, SHORT), (SHORT, LONG)))
    for results in (multistage, end2end):
        assert [(r.preference, r.position_consistent) for r in results] == [("a", True), ("b", True)]


def test_the_metric_card_s_pairwise_example_runs_on_the_metric_s_judge(tiny):
    from parass2s_hf.judge.metric import Parass2sJudge

    metric = Parass2sJudge("reward_model", reward_model=tiny["audio_llm"])
    [r] = metric.judge.compare([PairItem(QUERY, LONG, SHORT, sampling_rate=16000, dimension="emotion",
                                         query_style="sad")])
    assert r.status == "ok" and r.preference in ("a", "b") and r.method == "expected_scores"
