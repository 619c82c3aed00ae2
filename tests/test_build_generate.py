"""The build's LLM stages: generate (candidates in the text layer's format) and filter (three LLM tests)."""

import itertools
import json
import logging
import re
from collections import Counter

import pytest
from build_helpers import SCRIPTED_TEXTS, ScriptedLLM, serve_scripted_llm

from parass2s_hf.bench.text_lint import MAX_JACCARD, check_record, jaccard, word_set
from parass2s_hf.constants import REPLY_STYLES, STYLES
from parass2s_hf.construct import WorkDir
from parass2s_hf.construct.filter import FilterConfig, parse_verdict, run_filter
from parass2s_hf.construct.generate import GenerateConfig, assign_splits, parse_records, run_generate
from parass2s_hf.construct.llm import BuildLLM, make_llm
from parass2s_hf.construct.prompts import FILTER_TESTS, OutputParseError, filter_messages, generation_messages

KEY_ENV = "PARASS2S_BUILD_TEST_KEY"


def lines_of(work, stage="generate"):
    with open(work.file(stage)) as f:
        return [json.loads(line) for line in f]


def kept(work):
    return [line for line in lines_of(work) if line["status"] == "ok"]


def summary(work, stage="generate"):
    return work.summary()[stage]


def assert_whole(s):
    assert s["in"] == s["out"] + sum(s["dropped"].values()) == s["out"] + s["dropped_total"]


@pytest.mark.parametrize("mode,dimension", [("benchmark", "emotion"), ("polytone", "sarcasm"), ("sft", "age")])
def test_generate_each_mode(tmp_path, mode, dimension):
    work = WorkDir(tmp_path / "w")
    llm = ScriptedLLM()
    config = GenerateConfig(dimension=dimension, n=12, mode=mode, per_call=3)
    out = run_generate(work, config, llm)
    assert out == summary(work) and out["in"] == out["out"] == 12 and out["dropped"] == {} and out["already_done"] == 0
    records = kept(work)
    assert len(records) == 12 and len({r["id"] for r in records}) == 12
    splits = assign_splits(config.topics, config.test_fraction, config.seed)
    by_split = Counter()
    for r in records:
        by_split[r["split"]] += 1
        assert re.fullmatch(rf"{dimension}-{r['split']}-\d{{4}}", r["id"]) and r["pair_id"] == r["id"]
        assert r["dimension"] == dimension and r["split"] == splits[r["topic"]] and r["reason"] == ""
        if mode == "polytone":
            assert r["styles"] == list(STYLES[dimension]) and r["per_style"] == {}
        else:
            assert check_record(r) == [], check_record(r)
            assert all(e["reference_reply_style"] in REPLY_STYLES for e in r["per_style"].values())
    for split, count in by_split.items():  # ids count up per split from 0001
        assert sorted(r["id"] for r in records if r["split"] == split) == [
            f"{dimension}-{split}-{k:04d}" for k in range(1, count + 1)]
    topics = {s: {r["topic"] for r in records if r["split"] == s} for s in ("test", "train")}
    assert topics["test"] and topics["train"] and not topics["test"] & topics["train"]
    assert all(jaccard(word_set(a["text"]), word_set(b["text"])) < MAX_JACCARD
               for a, b in itertools.combinations(records, 2))
    # the prompt carries the marker, the mode's schema and the dimension's rules
    prompt = llm.seen[0][-1]["content"]
    assert prompt.startswith("TASK: generate\n") and f"Dimension: {dimension}" in prompt
    assert ("per_style" in prompt) == (mode != "polytone")


def test_generate_balances_emotion_pairs(tmp_path):
    work = WorkDir(tmp_path / "w")
    run_generate(work, GenerateConfig(dimension="emotion", n=15), ScriptedLLM())
    use = Counter(s for r in kept(work) for s in r["styles"])
    assert set(use) == set(STYLES["emotion"]) and max(use.values()) - min(use.values()) <= 1
    assert all(len(set(r["styles"])) == 2 for r in kept(work))


def test_bad_json_retried_with_the_error_fed_back_then_dropped(tmp_path):
    work = WorkDir(tmp_path / "w")
    llm = ScriptedLLM(bad_json_every=2)
    out = run_generate(work, GenerateConfig(dimension="gender", n=6, per_call=2, max_retries=1), llm)
    lines = lines_of(work)
    bad = [line for line in lines if line["status"] == "dropped"]
    assert out["out"] == 6 and out["dropped"] == {"unparseable output": len(bad)} and len(bad) >= 2
    assert_whole(out)
    assert all(line["reason"].startswith("unparseable output: not valid JSON") and "not JSON" in line["output"]
               for line in bad)
    retried = [c for c in llm.seen if len(c) == 4]
    assert retried and all(c[2]["role"] == "assistant" and "could not be read" in c[3]["content"] for c in retried)
    assert all(c[3]["content"].count("Count: ") == 1 for c in retried)


def test_garbage_every_time_stops_at_the_call_bound(tmp_path, caplog):
    work = WorkDir(tmp_path / "w")
    llm = ScriptedLLM(bad_json_every=1)
    with caplog.at_level(logging.WARNING):
        out = run_generate(work, GenerateConfig(dimension="emotion", n=4, per_call=2, max_retries=0), llm)
    assert llm.answers == 4 * 2 + 10 and all(len(c) == 2 for c in llm.seen)  # no retries with max_retries=0
    assert out["in"] == 18 and out["out"] == 0 and out["dropped"] == {"unparseable output": 18}
    assert "0 of 4 records kept" in caplog.text


def test_invalid_records_dropped_with_their_reasons(tmp_path):
    good = {"scenario": "A plan changed.", "text": "The meeting point moved to the north entrance of the park.",
            "styles": ["happy", "sad"],
            "per_style": {"happy": {"requirement": "r1", "reference_reply": "Nice, see you there.",
                                    "reference_reply_style": "cheerful"},
                          "sad": {"requirement": "r2", "reference_reply": "Oh, is everything alright?",
                                  "reference_reply_style": "sympathetic"}}}
    cue = {**good, "text": "I am so happy that the meeting point moved."}
    reply_style = {**good, "text": "The shop near the bridge changed its opening hours.",
                   "per_style": {**good["per_style"], "sad": {**good["per_style"]["sad"],
                                                             "reference_reply_style": "melancholic"}}}
    other_dim = {**good, "text": "The bus comes every ten minutes now.", "styles": ["happy", "sarcastic"]}
    duplicate = {**good, "text": "The meeting point moved to the north entrance of the park today."}
    missing = {"scenario": "x", "text": "The bins go out on a different day now."}
    too_short = {**good, "text": "Okay then."}
    llm = ScriptedLLM(records=[good, cue, reply_style, other_dim, duplicate, missing, too_short, "just a string"])
    work = WorkDir(tmp_path / "w")
    out = run_generate(work, GenerateConfig(dimension="emotion", n=1), llm)
    assert out["out"] == 1 and out["dropped"] == {"style cue": 1, "invalid record": 5, "near-duplicate": 1}
    assert_whole(out)
    reasons = [line["reason"] for line in lines_of(work) if line["status"] == "dropped"]
    assert "happy" in reasons[0] and "melancholic" in reasons[1] and "sarcastic" in reasons[2]
    assert re.fullmatch(r"near-duplicate: word-set Jaccard 0\.\d\d with emotion-(test|train)-0001", reasons[3])
    assert "missing field" in reasons[4] and "words, expected 3-30" in reasons[5] and "JSON object" in reasons[6]
    assert llm.answers == 1  # n was reached: nothing asked again


def test_rejected_records_are_asked_for_again_with_the_problems(tmp_path):
    class OneBadThenGood(ScriptedLLM):
        def _generate(self, first, last):
            if self.answers == 1:
                return json.dumps([{"scenario": "s", "text": "Ugh, the bins go out on Monday."}])
            return super()._generate(first, last)

    llm = OneBadThenGood()
    work = WorkDir(tmp_path / "w")
    out = run_generate(work, GenerateConfig(dimension="emotion", n=2, per_call=2, mode="polytone"), llm)
    assert out["out"] == 2 and out["dropped"] == {"style cue": 1}  # "Ugh"; and one record short: both asked again
    retry = llm.seen[1]
    assert len(retry) == 4 and "not accepted" in retry[3]["content"] and "Count: 1" in retry[3]["content"]


def test_resume_does_nothing_new_and_an_interrupted_run_continues(tmp_path):
    config = GenerateConfig(dimension="sarcasm", n=8, per_call=2)
    work = WorkDir(tmp_path / "done")
    run_generate(work, config, ScriptedLLM())
    before = lines_of(work)
    again = ScriptedLLM()
    out = run_generate(work, config, again)
    assert again.calls == 0 and lines_of(work) == before and out["already_done"] == 8 and out["out"] == 8

    work = WorkDir(tmp_path / "interrupted")
    first = ScriptedLLM(interrupt_after=2)
    first.batch_size = 1
    with pytest.raises(KeyboardInterrupt):
        run_generate(work, config, first)
    partial = lines_of(work)
    assert len(partial) == 4 and all(line["status"] == "ok" for line in partial)
    out = run_generate(work, config, ScriptedLLM(texts=SCRIPTED_TEXTS[30:]))
    assert lines_of(work)[:4] == partial and out["out"] == 8 and out["already_done"] == 4 and out["in"] == 8
    ids = [r["id"] for r in kept(work)]
    assert len(set(ids)) == 8 and all(re.fullmatch(r"sarcasm-(test|train)-\d{4}", i) for i in ids)


def test_other_settings_refused_unless_overwrite(tmp_path):
    work = WorkDir(tmp_path / "w")
    run_generate(work, GenerateConfig(dimension="emotion", n=3), ScriptedLLM())
    with pytest.raises(ValueError, match=r"other settings \(n differ"):
        run_generate(work, GenerateConfig(dimension="emotion", n=4), ScriptedLLM())
    other = ScriptedLLM()
    other.name = "another-model"
    with pytest.raises(ValueError, match="llm differ"):
        run_generate(work, GenerateConfig(dimension="emotion", n=3), other)
    out = run_generate(work, GenerateConfig(dimension="emotion", n=4), ScriptedLLM(), overwrite=True)
    assert out["out"] == 4 and out["already_done"] == 0 and len(lines_of(work)) == 4


def test_config_validation():
    with pytest.raises(ValueError, match="'mood'.*emotion"):
        GenerateConfig(dimension="mood", n=3)
    with pytest.raises(ValueError, match="'dialogue'.*benchmark"):
        GenerateConfig(dimension="age", n=3, mode="dialogue")
    with pytest.raises(ValueError, match="n must be"):
        GenerateConfig(dimension="age", n=0)
    with pytest.raises(ValueError, match="repeated"):
        GenerateConfig(dimension="age", n=3, topics=["pets", "pets"])
    with pytest.raises(ValueError, match="test_fraction"):
        GenerateConfig(dimension="age", n=3, test_fraction=1.5)
    with pytest.raises(ValueError, match="'fluency'"):
        FilterConfig(tests=("neutrality", "fluency"))
    assert FilterConfig(tests=["relevance", "neutrality"]).tests == ("neutrality", "relevance")
    assert len(GenerateConfig(dimension="age", n=3).topics) >= 12


def test_splits_are_deterministic_and_proportional():
    topics = [f"topic {i}" for i in range(20)]
    a = assign_splits(topics, 0.75, seed=0)
    assert a == assign_splits(list(reversed(topics)), 0.75, seed=0)
    assert Counter(a.values()) == {"test": 15, "train": 5} and a != assign_splits(topics, 0.75, seed=1)
    assert set(assign_splits(["a", "b"], 0.9).values()) == {"test", "train"}


def test_parsing_tolerates_fences_and_wrappers():
    rec = {"scenario": "s", "text": "t"}
    assert parse_records(f"Sure:\n```json\n{json.dumps([rec])}\n```") == [rec]
    assert parse_records(json.dumps({"records": [rec, rec]})) == [rec, rec]
    assert parse_records("here: " + json.dumps(rec) + " done") == [rec]
    for bad in ("", "no json here", "[]", '{"foo": 1}'):
        with pytest.raises(OutputParseError):
            parse_records(bad)
    assert parse_verdict('```json\n{"pass": false, "reason": "leaks"}\n```') == {"pass": False, "reason": "leaks"}
    assert parse_verdict('Verdict: {"pass": "yes"}') == {"pass": True, "reason": ""}
    for bad in ('{"pass": "maybe"}', '{"reason": "x"}', "true"):
        with pytest.raises(OutputParseError):
            parse_verdict(bad)


def test_prompts_start_with_their_marker():
    record = {"dimension": "emotion", "styles": ["happy", "sad"], "scenario": "s", "text": "It is Tuesday.",
              "per_style": {s: {"requirement": "r", "reference_reply": "x", "reference_reply_style": "warm"}
                            for s in ("happy", "sad")}}
    for test in FILTER_TESTS:
        user = filter_messages(test, record, "benchmark")[-1]["content"]
        assert user.splitlines()[0] == f"TASK: {test}" and "Text: It is Tuesday." in user
    user = generation_messages("gender", "benchmark", "pets", 2, [("male", "female")] * 2)[-1]["content"]
    assert user.startswith("TASK: generate\n") and "husband" in user and "Styles per record: male+female" in user


def test_filter_records_verdicts_and_drops_failures(tmp_path):
    work = WorkDir(tmp_path / "w")
    run_generate(work, GenerateConfig(dimension="emotion", n=6, per_call=3), ScriptedLLM())
    records = kept(work)
    llm = ScriptedLLM(fail_filter={records[0]["text"]}, fail_tests={"relevance": {records[1]["text"]},
                                                                   "plausibility": {records[0]["text"]}},
                      bad_json_every=5)
    out = run_filter(work, FilterConfig(max_retries=1), llm)
    assert out["in"] == 6 and out["out"] == 4 and out["dropped"] == {"failed neutrality+plausibility": 1,
                                                                      "failed relevance": 1}
    assert_whole(out) and out == summary(work, "filter")
    lines = {line["id"]: line for line in lines_of(work, "filter")}
    assert len(lines) == 6 and all(set(line["verdicts"]) == set(FILTER_TESTS) for line in lines.values())
    first, second = lines[records[0]["id"]], lines[records[1]["id"]]
    assert first["status"] == "dropped" and first["verdicts"]["neutrality"] == {
        "pass": False, "reason": "scripted neutrality fails"}
    assert first["reason"].startswith("failed neutrality+plausibility: neutrality: scripted neutrality fails")
    assert second["reason"] == "failed relevance: scripted relevance fails"
    assert any(len(c) == 4 and "could not be read" in c[3]["content"] for c in llm.seen)  # a garbage verdict retried
    again = ScriptedLLM()
    out = run_filter(work, FilterConfig(max_retries=1), again)
    assert again.calls == 0 and out["already_done"] == 6 and out["out"] == 4


def test_filter_unparseable_verdicts_and_polytone(tmp_path):
    work = WorkDir(tmp_path / "w")
    run_generate(work, GenerateConfig(dimension="age", n=3, mode="polytone"), ScriptedLLM())
    llm = ScriptedLLM(bad_json_every=1)
    out = run_filter(work, FilterConfig(max_retries=1), llm)
    assert out["out"] == 0 and out["dropped"] == {"unparseable verdict": 3}
    assert llm.answers == 3 * 2 * 2  # relevance not asked (polytone); each test asked twice
    line = lines_of(work, "filter")[0]
    assert line["reason"].startswith("unparseable verdict: neutrality: not valid JSON")
    assert line["verdicts"]["relevance"] == {"pass": True, "reason": "not applicable (polytone)"}
    with pytest.raises(ValueError, match="other settings"):
        run_filter(work, FilterConfig(max_retries=2), ScriptedLLM())


def test_filter_needs_generate(tmp_path):
    with pytest.raises(ValueError, match="run `parass2s build generate`"):
        run_filter(WorkDir(tmp_path / "empty"), FilterConfig(), ScriptedLLM())


def test_endpoint_errors_retried_then_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")
    scripted = ScriptedLLM()
    work = WorkDir(tmp_path / "w")
    with serve_scripted_llm(scripted, fail_first=1) as base:
        llm = make_llm("scripted", api_base=base, api_key_env=KEY_ENV, max_retries=2)
        assert isinstance(llm, BuildLLM) and llm.name == "scripted"
        out = run_generate(work, GenerateConfig(dimension="emotion", n=3, per_call=3), llm)
        assert [s for _, s in scripted.http_requests] == [500, 200]  # the client retried after its backoff
        assert out["out"] == 3 and out["dropped"] == {}
        assert all(path == "/v1/chat/completions" for path, _ in scripted.http_requests)

    # an endpoint that keeps failing: each error recorded, and the stage stops
    failing = ScriptedLLM(error_every=1)
    with serve_scripted_llm(failing) as base:
        llm = make_llm("scripted", api_base=base, api_key_env=KEY_ENV, max_retries=0)
        other = WorkDir(tmp_path / "down")
        out = run_generate(other, GenerateConfig(dimension="emotion", n=2, per_call=2), llm)
        assert out["out"] == 0 and out["dropped"] == {"llm error": 3}
        assert all("InternalServerError" in line["reason"] for line in lines_of(other))
        out = run_filter(work, FilterConfig(), llm)
    assert out["out"] == 0 and out["dropped"] == {"llm error": 3}
    assert all(line["reason"].startswith("llm error: neutrality: InternalServerError") for line in lines_of(work, "filter"))
    # back up: a rerun asks again about the records dropped for an llm error
    with serve_scripted_llm(ScriptedLLM()) as base:
        out = run_filter(work, FilterConfig(), make_llm("scripted", api_base=base, api_key_env=KEY_ENV))
    assert out["out"] == 3 and out["dropped"] == {} and out["already_done"] == 0


def test_endpoint_needs_its_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=KEY_ENV):
        make_llm("scripted", api_base="http://127.0.0.1:9/v1", api_key_env=KEY_ENV)


def test_tiny_local_chat_model_runs_mechanically(tmp_path, tiny):
    llm = make_llm(tiny["text_llm"], batch_size=4, seed=3)
    assert isinstance(llm, BuildLLM) and llm.name == tiny["text_llm"]
    work = WorkDir(tmp_path / "w")
    config = GenerateConfig(dimension="emotion", n=2, per_call=2, max_retries=1, max_new_tokens=8)
    out = run_generate(work, config, llm)
    # a random model writes no JSON: every answer is a candidate dropped with its reason, none is lost
    assert out["out"] == 0 and out["in"] == 4 * 1 + 10 and out["dropped"] == {"unparseable output": 14}
    assert all(line["reason"].startswith("unparseable output:") for line in lines_of(work))


def test_unknown_local_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no-such-org/no-such-chat-model"):
        make_llm("no-such-org/no-such-chat-model")
    with pytest.raises(ValueError, match="not a transformers model"):
        make_llm(str(tmp_path))
    with pytest.raises(ValueError, match="temperature"):
        make_llm("x", temperature=-1)
