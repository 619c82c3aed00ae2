"""The ParaS2SBench builder: configs, data_dir input, real corpora, and every bad-input error."""

import json
import os
from collections import Counter

import pytest
import soundfile as sf
from conftest import pair_rows, tone, write_data_dir

from parass2s_hf import FEATURES, load_audio, load_parass2sbench
from parass2s_hf.audio import AudioError
from parass2s_hf.bench.data_dir import DataDirError
from parass2s_hf.bench.real_corpora import CorpusNotFoundError
from parass2s_hf.bench.text_layer import read_text_layer
from parass2s_hf.constants import DIMENSIONS, STYLES


def _load(config, tmp_path, **kw):
    return load_parass2sbench(config, cache_dir=str(tmp_path / "cache"), **kw)


def test_sample_has_every_dimension_both_styles_of_every_pair_and_decodes_at_16k(sample_test):
    assert sample_test.features == FEATURES
    assert len(sample_test) == 48
    assert Counter(sample_test["dimension"]) == {d: 12 for d in DIMENSIONS}
    pairs = {}
    for row in sample_test:
        pairs.setdefault(row["pair_id"], set()).add(row["style"])
        decoded = row["audio"].get_all_samples()
        assert decoded.sample_rate == 16000 and decoded.data.shape[0] == 1 and decoded.data.shape[1] > 8000
        assert row["source"] == "espeak-ng" and row["voice"].startswith("en-us")
        assert row["requirement"] and row["reference_reply"] and row["reference_reply_style"]
    assert len(pairs) == 24
    for pair_id, styles in pairs.items():
        dim = pair_id.split("-")[0]
        assert len(styles) == 2 and styles <= set(STYLES[dim])
    # all six emotions take part
    emotions = {r["style"] for r in sample_test if r["dimension"] == "emotion"}
    assert emotions == set(STYLES["emotion"])


@pytest.fixture(scope="module")
def small_layer(tmp_path_factory):
    """Two texts per dimension and split from the shipped layer, for the configs' rendering path."""
    records = read_text_layer()
    picked = [r for d in DIMENSIONS for split in ("test", "train")
              for r in [x for x in records if x["dimension"] == d and x["split"] == split][:2]]
    path = tmp_path_factory.mktemp("layer") / "small.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in picked))
    return str(path)


def test_dimension_configs_render_their_dimension(tmp_path, small_layer):
    ds = _load("sarcasm", tmp_path, text_layer=small_layer)
    assert len(ds["test"]) == 4 and len(ds["train"]) == 4
    assert set(ds["test"]["dimension"]) == {"sarcasm"} == set(ds["train"]["dimension"])
    assert set(ds["test"]["style"]) == {"sincere", "sarcastic"}
    first = ds["test"][0]
    assert load_audio(first["audio"]).sampling_rate == 16000 and first["source"] == "espeak-ng"


@pytest.mark.slow  # renders all 3,200 clips (about three minutes on two cores); .ci/run runs it
def test_synthetic_is_the_default_full_benchmark_and_train_pool(tmp_path):
    """Done-when of the builder and text layer issues: 1,200 texts x 2 styles rendered, and the train pool."""
    from parass2s_hf.bench import ParaS2SBench

    assert ParaS2SBench.DEFAULT_CONFIG_NAME == "synthetic"
    ds = _load("synthetic", tmp_path)
    assert len(ds["test"]) == 2400 and len(ds["train"]) == 800
    assert Counter(ds["test"]["dimension"]) == {d: 600 for d in DIMENSIONS}
    assert Counter(ds["train"]["dimension"]) == {d: 200 for d in DIMENSIONS}
    assert Counter(ds["test"]["style"])["sarcastic"] == 300
    assert set(ds["test"]["topic"]).isdisjoint(ds["train"]["topic"])
    for row in ds["test"].select(range(0, 2400, 397)):
        clip = load_audio(row["audio"])
        assert clip.sampling_rate == 16000 and clip.duration > 0.5 and not clip.is_silent


def test_own_audio_through_data_dir(tmp_path):
    rows = pair_rows("p1", "emotion", ("happy", "sad")) + pair_rows("p2", "age", ("adult", "child"), split="train")
    rows[0]["voice"] = "my-tts-voice-3"
    rows[0]["extra_column"] = "ignored"
    data_dir = write_data_dir(str(tmp_path / "mine"), rows)
    ds = _load("emotion", tmp_path, data_dir=data_dir)
    assert list(ds) == ["test"]
    assert sorted(ds["test"]["id"]) == ["p1-happy", "p1-sad"]
    assert ds["test"][0]["voice"] == "my-tts-voice-3" or ds["test"][1]["voice"] == "my-tts-voice-3"
    both = _load("synthetic", tmp_path, data_dir=data_dir)
    assert len(both["test"]) == 2 and len(both["train"]) == 2


def test_unknown_config_lists_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="BuilderConfig 'emotions' not found.*'sample'.*'synthetic'.*'iemocap'"):
        _load("emotions", tmp_path)


@pytest.mark.parametrize(
    "mutate, error, message",
    [
        (lambda rows: rows[0].update(file_name="../outside.wav"), DataDirError, r"not inside data_dir"),
        (lambda rows: rows[0].update(file_name="/etc/passwd"), DataDirError, r"not inside data_dir"),
        (lambda rows: rows[0].update(dimension="accent"), DataDirError, r"row 'p1-happy' has unknown dimension 'accent'"),
        (lambda rows: rows[0].update(style="sarcastic"), DataDirError,
         r"row 'p1-happy' has style 'sarcastic', which is not a emotion style"),
        (lambda rows: rows[0].update(split="validation"), DataDirError, r"split 'validation'"),
        (lambda rows: rows[0].pop("text"), DataDirError, r"missing or empty field\(s\) \['text'\]"),
        (lambda rows: rows[0].update(_no_file=True), DataDirError, r"audio file 'clips/p1-happy.wav' not found"),
        (lambda rows: rows.pop(), DataDirError, r"pair 'p1' \(test\) has the style\(s\) \['happy'\]"),
        (lambda rows: rows[1].update(id="p1-happy"), DataDirError, r"duplicate id 'p1-happy'"),
    ],
)
def test_bad_data_dir_rows_are_named(tmp_path, mutate, error, message):
    rows = pair_rows("p1", "emotion", ("happy", "sad"))
    mutate(rows)
    # write_data_dir writes audio at file_name; for escaping names write the metadata by hand
    folder = tmp_path / "bad"
    if any(os.path.isabs(r.get("file_name", "")) or ".." in r.get("file_name", "") for r in rows):
        folder.mkdir()
        (tmp_path / "outside.wav").write_bytes(b"")
        (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    else:
        write_data_dir(str(folder), rows)
    with pytest.raises(error, match=message):
        _load("emotion", tmp_path, data_dir=str(folder))


def test_missing_data_dir_and_metadata(tmp_path):
    with pytest.raises(DataDirError, match="does not exist or is not a folder"):
        _load("emotion", tmp_path, data_dir=str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataDirError, match="has no metadata.jsonl: expected one JSON object per line"):
        _load("emotion", tmp_path, data_dir=str(tmp_path / "empty"))
    folder = write_data_dir(str(tmp_path / "only_age"), pair_rows("p1", "age", ("adult", "child")))
    with pytest.raises(DataDirError, match=r"has no rows for the dimension\(s\) \['gender'\]"):
        _load("gender", tmp_path, data_dir=folder)
    (tmp_path / "badjson").mkdir()
    (tmp_path / "badjson" / "metadata.jsonl").write_text('{"id": "x"}\n{not json\n')
    with pytest.raises(DataDirError, match=r"metadata.jsonl, line 1: missing or empty field"):
        _load("emotion", tmp_path, data_dir=str(tmp_path / "badjson"))


def test_corrupt_audio_file_is_named(tmp_path):
    rows = pair_rows("p1", "emotion", ("happy", "sad"))
    folder = write_data_dir(str(tmp_path / "corrupt"), rows)
    with open(os.path.join(folder, "clips", "p1-sad.wav"), "wb") as f:
        f.write(b"RIFF....WAVEfmt not really audio at all" * 4)
    with pytest.raises(Exception) as info:
        _load("emotion", tmp_path, data_dir=folder)
    chain, err = [], info.value
    while err is not None:
        chain.append(err)
        err = err.__cause__ or err.__context__
    audio_errors = [e for e in chain if isinstance(e, AudioError)]
    assert audio_errors and "p1-sad.wav" in str(audio_errors[0]) and "unreadable or corrupted" in str(audio_errors[0])


# ---- real corpora, in their release layouts (tiny fakes with tone audio) ----

def make_iemocap(root):
    session = root / "Session1"
    dialog = "Ses01F_impro01"
    (session / "dialog" / "EmoEvaluation").mkdir(parents=True)
    (session / "dialog" / "transcriptions").mkdir(parents=True)
    (session / "sentences" / "wav" / dialog).mkdir(parents=True)
    utts = [  # id, label, transcript
        ("Ses01F_impro01_F000", "exc", "I got the job at the bakery on Main Street."),
        ("Ses01F_impro01_M001", "hap", "We are going to the coast next weekend."),
        ("Ses01F_impro01_F002", "neu", "Excuse me, where is the office?"),
        ("Ses01F_impro01_M003", "ang", "You moved my chair again."),
        ("Ses01F_impro01_F004", "sad", "I'm so sad about it."),          # emotion word: dropped
        ("Ses01F_impro01_M005", "fru", "This line never moves."),        # frustration: dropped
        ("Ses01F_impro01_F006", "sur", "Yes."),                          # too short: dropped
        ("Ses01F_impro01_M007", "fea", "There is someone at the back door."),
    ]
    evals, trans = ["% header line\n"], []
    for i, (utt, label, text) in enumerate(utts):
        evals.append(f"[{i}.0000 - {i}.9000]\t{utt}\t{label}\t[2.5000, 2.5000, 2.5000]\n")
        evals.append(f"C-E1:\t{label.capitalize()};\t()\n")
        trans.append(f"{utt} [{i:03d}.0000-{i:03d}.9000]: {text}\n")
        sf.write(session / "sentences" / "wav" / dialog / f"{utt}.wav", tone(1.0, 200 + 10 * i, 16000), 16000)
    (session / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("".join(evals))
    (session / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("".join(trans))
    return root


def make_meld(root):
    import torch
    from torchcodec.encoders import AudioEncoder

    clips = root / "output_repeated_splits_test"
    clips.mkdir(parents=True)
    rows = [  # dialogue, utterance, emotion, text
        (0, 0, "joy", "We got the apartment on Bedford Street."),
        (0, 1, "neutral", "Okay, see you there."),
        (0, 2, "disgust", "Somebody left milk in the car for a week."),
        (1, 0, "anger", "You told everyone about the trip\x92s plans."),
        (1, 1, "surprise", "Wow!"),                                   # cue word / punctuation: dropped
        (2, 0, "sadness", "The store on the corner closed yesterday."),  # clip missing: counted
    ]
    with open(root / "test_sent_emo.csv", "w", encoding="utf-8") as f:
        f.write("Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n")
        for i, (d, u, emo, text) in enumerate(rows):
            f.write(f'{i + 1},"{text}",Rachel,{emo},positive,{d},{u},3,19,"00:14:15,055","00:14:17,183"\n')
            if (d, u) != (2, 0):
                AudioEncoder(torch.from_numpy(tone(1.0, 300, 48000))[None], sample_rate=48000).to_file(
                    str(clips / f"dia{d}_utt{u}.mp4"))
    return root


def test_iemocap_selection_rule_and_rows(tmp_path):
    root = make_iemocap(tmp_path / "IEMOCAP_full_release")
    ds = _load("iemocap", tmp_path, data_dir=str(root), split="test")
    got = {r["id"]: (r["style"], r["voice"]) for r in ds}
    assert got == {
        "iemocap-Ses01F_impro01_F000": ("happy", "Ses01F"),
        "iemocap-Ses01F_impro01_M001": ("happy", "Ses01M"),
        "iemocap-Ses01F_impro01_M003": ("angry", "Ses01M"),
        "iemocap-Ses01F_impro01_M007": ("fear", "Ses01M"),
    }
    row = ds[0]
    assert row["source"] == "iemocap" and row["pair_id"] == "" and row["reference_reply"] == ""
    assert row["requirement"] and load_audio(row["audio"]).sampling_rate == 16000


def test_meld_decodes_mp4_and_applies_the_rule(tmp_path):
    from parass2s_hf.bench.real_corpora import iter_meld

    root = make_meld(tmp_path / "MELD.Raw")
    counts = Counter()
    kept = list(iter_meld(str(root), counts=counts))
    assert counts["dropped_clip_missing"] == 1 and counts["dropped_label_neutral"] == 1
    ds = _load("meld", tmp_path, data_dir=str(root), split="test")
    assert sorted(ds["style"]) == ["angry", "disgust", "happy"] == sorted(r["style"] for r in kept)
    assert "trip's plans" in " ".join(ds["text"])
    assert all(load_audio(r["audio"]).sampling_rate == 16000 for r in ds)


def test_missing_corpora_say_how_to_get_them(tmp_path):
    with pytest.raises(CorpusNotFoundError, match="IEMOCAP needs a local copy.*sail.usc.edu"):
        _load("iemocap", tmp_path)
    with pytest.raises(CorpusNotFoundError, match="MELD folder '/nonexistent' does not exist.*affective-meld"):
        _load("meld", tmp_path, data_dir="/nonexistent")
    with pytest.raises(CorpusNotFoundError, match="No Session1 ... Session5 folders"):
        _load("iemocap", tmp_path, data_dir=str(tmp_path))
    with pytest.raises(CorpusNotFoundError, match="the 'all' config needs iemocap_dir"):
        _load("all", tmp_path)


def test_all_combines_synthetic_and_real(tmp_path, small_layer):
    iemocap = make_iemocap(tmp_path / "iemocap")
    meld = make_meld(tmp_path / "meld")
    ds = _load("all", tmp_path, iemocap_dir=str(iemocap), meld_dir=str(meld), text_layer=small_layer)
    assert Counter(ds["test"]["source"]) == {"iemocap": 4, "meld": 3, "espeak-ng": 16}
    assert Counter(ds["train"]["source"]) == {"espeak-ng": 16}
