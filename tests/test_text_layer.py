"""The text layer and its lint: the shipped file passes; each kind of bad record is caught."""

import copy
import json
import re
from collections import Counter

import pytest

from parass2s_hf.bench.text_layer import EXPECTED_COUNTS, read_text_layer, record_rows, text_layer_path
from parass2s_hf.bench.text_lint import check_layer, check_record, style_cues


@pytest.fixture(scope="module")
def layer():
    return read_text_layer()


def test_shipped_text_layer_passes_the_lint_at_full_size(layer):
    """300 test and 100 train texts per dimension; neutral words; no near-duplicates; emotion balance (each
    emotion in at least 80 of the 300 test pairs); every requirement and reference reply; disjoint topics."""
    assert check_layer(layer, EXPECTED_COUNTS) == []
    test_emotion = [r for r in layer if r["dimension"] == "emotion" and r["split"] == "test"]
    per_emotion = Counter(s for r in test_emotion for s in r["styles"])
    assert len(test_emotion) == 300 and min(per_emotion.values()) >= 80, per_emotion


def test_every_record_gives_two_rows_with_their_requirements(layer):
    for rec in layer:
        rows = list(record_rows(rec))
        assert [r["style"] for r in rows] == rec["styles"]
        assert all(r["requirement"] == rec["per_style"][r["style"]]["requirement"] for r in rows)


GOOD = {
    "id": "emotion-test-9999", "pair_id": "emotion-test-9999", "split": "test", "dimension": "emotion",
    "topic": "work", "scenario": "A meeting was moved.", "text": "They moved the big meeting to Monday morning.",
    "styles": ["happy", "fear"],
    "per_style": {
        "happy": {"requirement": "shares the mood", "reference_reply": "Nice, a fresh start to the week.",
                  "reference_reply_style": "cheerful"},
        "fear": {"requirement": "reassures", "reference_reply": "You'll be ready; let's plan the weekend.",
                 "reference_reply_style": "calm"},
    },
}


def _bad(**changes):
    rec = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if "." in key:
            style, field = key.split(".")
            rec["per_style"][style][field] = value
        else:
            rec[key] = value
    return rec


@pytest.mark.parametrize(
    "record, message",
    [
        (_bad(text="I'm so happy they moved the meeting."), "reveals the emotion style through \\['happy'\\]"),
        (_bad(text="They moved the meeting to Monday!"), "punctuation '!'"),
        (_bad(text="Meeting moved."), "text has 2 words, expected 3-30"),
        (_bad(text=" ".join(["word"] * 31)), "text has 31 words"),
        (_bad(styles=["happy", "sarcastic"]), "style 'sarcastic' is not a emotion style"),
        (_bad(styles=["happy", "happy"]), "must be a list of two different styles"),
        (_bad(dimension="accent"), "unknown dimension 'accent'"),
        (_bad(**{"fear.reference_reply_style": "grumpy"}), "reply style 'grumpy' not in"),
        (_bad(**{"fear.requirement": ""}), "fear: missing or empty 'requirement'"),
        (_bad(**{"fear.reference_reply": "[style: calm] Hi."}), "no brackets"),
        (_bad(**{"fear.reference_reply": "Nice, a fresh start to the week."}), "same reference reply"),
        (_bad(topic=""), "empty 'topic'"),
    ],
)
def test_lint_catches_bad_records(record, message):
    problems = check_record(record)
    assert any(re.search(message, p) for p in problems), problems


def test_cues_are_per_dimension_and_whole_word():
    assert style_cues("My husband made dinner.", "gender") == ["my husband"]
    assert style_cues("I made it to the station.", "emotion") == []       # "mad" is not in "made"
    assert style_cues("Yeah right, the train was on time.", "sarcasm") == ["yeah right"]
    assert style_cues("Can I finish my homework later?", "age") == ["homework"]
    assert style_cues("Yeah right, the train was on time.", "emotion") == []


def test_layer_level_checks():
    a = copy.deepcopy(GOOD)
    near = _bad(id="emotion-test-9998", pair_id="emotion-test-9998", text="They moved the big meeting to Monday.")
    problems = check_layer([a, near])
    assert any("near-duplicates" in p for p in problems)
    dup = _bad(id="emotion-test-9997", pair_id="emotion-test-9997", text="They moved the BIG meeting to Monday morning")
    assert any("duplicate texts" in p for p in check_layer([a, dup]))
    train = _bad(id="emotion-train-0001", pair_id="emotion-train-0001", split="train", text="Our cat ran off again.")
    assert any("topics shared by the train and test splits: ['work']" in p for p in check_layer([a, train]))
    same_id = copy.deepcopy(a)
    same_id["text"] = "Somebody parked across our driveway."
    assert any("duplicate id" in p for p in check_layer([a, same_id]))
    imbalanced = [_bad(id=f"e{i}", pair_id=f"e{i}", text=f"Item number {i} is about a parcel at the door {i}.")
                  for i in range(6)]
    assert any("'sad' takes part in 0 of 6 pairs" in p for p in check_layer(imbalanced))
    assert any("test/emotion: 6 records, expected 300" in p
               for p in check_layer(imbalanced, expected_counts={("test", "emotion"): 300}))


def test_read_text_layer_refuses_an_invalid_file(tmp_path):
    path = tmp_path / "layer.jsonl"
    path.write_text(json.dumps(_bad(text="Wow, they moved it.")) + "\n")
    with pytest.raises(ValueError, match="Invalid text layer .*reveals the emotion style"):
        read_text_layer(path)
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match="line 1: not valid JSON"):
        read_text_layer(path)
    assert text_layer_path().endswith("text_layer.jsonl")
