"""ParaS2SBench v2: the words decide no style (the lint's age, sarcasm and emotion rules), and train and test are
spoken in disjoint voices in every config."""

import copy
import json
from collections import defaultdict

import pytest

from parass2s_hf.bench.parass2s_bench import BUILDER_CONFIGS, VERSION, benchmark_voice_plan, row_voice_key
from parass2s_hf.bench.text_layer import read_text_layer, record_rows
from parass2s_hf.bench.text_lint import (
    MAX_AGE_PERMISSION_SHARE,
    asks_permission,
    check_layer,
    check_record,
    praised_bad_situation,
)
from parass2s_hf.render import VOICE_POOLS, get_renderer


def _record(dimension, styles, text, replies):
    return {"id": f"{dimension}-test-9001", "pair_id": f"{dimension}-test-9001", "split": "test",
            "dimension": dimension, "topic": "home", "scenario": "A scenario.", "text": text, "styles": styles,
            "per_style": {s: {"requirement": "fits", "reference_reply": r, "reference_reply_style": "calm"}
                          for s, r in zip(styles, replies)}}


@pytest.mark.parametrize("text", ["Can I sit in the driver's seat and start the engine?",
                                  "Is it okay to sit in the front seat of the car?", "I'll walk home by myself."])
def test_the_age_rule_finds_texts_that_ask_permission(text):
    assert asks_permission(text)


def test_the_age_rule_caps_the_share_of_permission_texts():
    asking = [_record("age", ["adult", "child"], f"Can I take the number {i} bus into town alone?",
                      ["Sure, here is the timetable.", "Let's check the route together first."]) for i in range(10)]
    plain = [_record("age", ["adult", "child"], f"I want to take the number {i} bus into town.",
                     ["Sure, here is the timetable.", "Let's check the route together first."]) for i in range(90)]
    for i, rec in enumerate(asking + plain):
        rec["id"] = rec["pair_id"] = f"age-test-{i:04d}"
        rec["topic"] = "buses"
    problems = [p for p in check_layer(asking + plain) if p.startswith("age:") and "ask permission" in p]
    assert problems and "10 of 100" in problems[0]  # 10% > 5%
    problems = [p for p in check_layer(asking[:4] + plain) if "ask permission" in p]
    assert not problems and 4 / 94 <= MAX_AGE_PERMISSION_SHARE


@pytest.mark.parametrize("text, rule", [("The dog really enjoyed the trip to the vet.", "'enjoyed' + 'vet'"),
                                        ("We loved sitting in traffic for two hours.", "'loved' + 'traffic'"),
                                        ("Great news, my flight is delayed.", "'great' + 'delayed'")])
def test_the_sarcasm_rule_finds_praise_of_a_usually_bad_situation(text, rule):
    assert praised_bad_situation(text) == rule
    problems = check_record(_record("sarcasm", ["sincere", "sarcastic"], text, ["Glad to hear it.", "Oh no."]))
    assert any("praises a usually bad situation" in p for p in problems), problems


def test_sincere_statements_pass_the_sarcasm_rule():
    assert not praised_bad_situation("The train was right on time again today.")
    assert not praised_bad_situation("The vet said the dog is in good shape.")


def test_the_emotion_rule_finds_pairs_whose_replies_converge():
    same_advice = _record("emotion", ["angry", "fear"], "Someone has been leaving notes on my car.",
                          ["You should report it to the police and keep the notes.",
                           "You should report it to the police and keep every note."])
    problems = check_record(same_advice)
    assert any("reference replies are alike" in p for p in problems), problems
    different = copy.deepcopy(same_advice)
    different["per_style"]["fear"]["reference_reply"] = "That sounds unsettling. Park somewhere lit for now."
    assert not [p for p in check_record(different) if "alike" in p]


def test_no_voice_sits_in_two_pools_of_one_dimension():
    assert not set(VOICE_POOLS["child"]) & (set(VOICE_POOLS["male"]) | set(VOICE_POOLS["female"]))
    assert not set(VOICE_POOLS["male"]) & set(VOICE_POOLS["female"])


def test_every_config_speaks_train_and_test_in_disjoint_voices():
    """The voice of every row of every synthetic config, without rendering: no voice in both splits, and both styles
    of an emotion or sarcasm pair spoken by one speaker."""
    renderer = get_renderer("espeak-ng")
    plan = benchmark_voice_plan(renderer)
    assert not set(plan.split_voices["test"]) & set(plan.split_voices["train"]) and not plan.split_voices["shared"]
    layer = read_text_layer()
    for config in BUILDER_CONFIGS:
        if config.kind not in ("sample", "synthetic"):
            continue  # the real corpora keep their speakers
        records = [r for r in layer if r["dimension"] in config.dimensions]
        if config.kind == "sample":
            records = [r for r in records if r["split"] == "test" and int(r["id"].rsplit("-", 1)[1]) <= 6]
        voices = defaultdict(set)
        for record in records:
            pair = [renderer.voice(row["style"], row_voice_key(renderer, plan, row)) for row in record_rows(record)]
            for row, voice in zip(record_rows(record), pair):
                voices[row["split"]].add(voice)
                assert voice in plan.split_voices[row["split"]], (config.name, row["id"], voice)
            if record["dimension"] in ("emotion", "sarcasm"):
                assert pair[0] == pair[1], record["id"]
        assert not voices["test"] & voices["train"], (config.name, voices["test"] & voices["train"])


def test_the_prepared_sample_rows_carry_their_split_voices(sample_test):
    plan = benchmark_voice_plan(get_renderer("espeak-ng"))
    assert set(sample_test["voice"]) <= set(plan.split_voices["test"])


def test_the_card_states_the_voice_split():
    from parass2s_hf.bench.card import generate_card

    card = generate_card()
    assert "Voices are disjoint by split" in card and "| child | en-us+Annie" in card


def test_runs_record_the_benchmark_version_and_compare_warns_when_they_differ(tmp_path):
    from test_report import _write_run, all_six

    from parass2s_hf.evaluation.leaderboard import compare_runs

    old = _write_run(tmp_path / "old", all_six())
    new = _write_run(tmp_path / "new", all_six(shift=1))
    for folder, version in ((old, "0.1.0"), (new, str(VERSION))):
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["dataset"] = {"config": "synthetic", "version": version}
        (folder / "manifest.json").write_text(json.dumps(manifest))
    board = compare_runs([old, new])
    assert "Different ParaS2SBench versions" in board["markdown"] and "0.1.0: old" in board["markdown"]
    assert "Different ParaS2SBench versions" not in compare_runs([new])["markdown"]
