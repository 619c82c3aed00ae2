"""The export stage: data_dir / audiofolder layouts, dropped pairs, split disjointness, Parquet, card, Hub, reruns."""

import glob
import json
import os
import shutil
from collections import Counter

import datasets
import pytest

import parass2s_hf
from parass2s_hf.construct import WorkDir
from parass2s_hf.construct.export import MARKER_FILE, ExportConfig, run_export
from parass2s_hf.render import format_reply, get_renderer

RENDERER = get_renderer("espeak-ng")
_AUDIO_CACHE = {}


def _voice_key(style, split, seed):
    """A voice key whose voice is male for test and female for train, so the splits are voice-disjoint."""
    want = "+m" if split == "test" else "+f"
    for i in range(500):
        key = f"{seed}-{i}"
        if want in RENDERER.voice(style, key):
            return key
    raise AssertionError(f"no {want} voice for {style}")


def _record(rid, split, topic, text, styles, dimension="emotion", per_style=True):
    reply = {"happy": "cheerful", "sad": "sympathetic", "surprised": "excited", "angry": "calm", "fear": "calm",
             "disgust": "serious"}
    return {"id": rid, "pair_id": rid, "split": split, "dimension": dimension, "topic": topic,
            "scenario": f"scenario of {rid}", "text": text, "styles": list(styles),
            "per_style": {s: {"requirement": f"fits {s}", "reference_reply": f"A reply to {s} for {rid}.",
                              "reference_reply_style": reply.get(s, "warm")} for s in styles} if per_style else {},
            "status": "ok", "reason": ""}


def _clip(work, rid, cid, kind, style, text, split, fail, voice_split=None, seed=None):
    """Render one clip into the work folder and log its render and verify lines (`fail`: clip id -> stage)."""
    key = _voice_key(style, voice_split or split, seed or cid)
    voice = RENDERER.voice(style, key)
    if fail.get(cid) == "render":
        work.log("render").append({"id": cid, "record_id": rid, "kind": kind, "style": style, "voice": voice,
                                   "file_name": "", "renderer": RENDERER.name, "seconds": 0.0, "status": "failed",
                                   "reason": "renderer error"})
        return
    if (text, style, key) not in _AUDIO_CACHE:
        _AUDIO_CACHE[(text, style, key)] = RENDERER.render(text, style, key)
    clip = _AUDIO_CACHE[(text, style, key)]
    name = f"audio/{cid}.flac"
    with open(os.path.join(work.audio_dir(), f"{cid}.flac"), "wb") as f:
        f.write(clip.to_bytes())
    work.log("render").append({"id": cid, "record_id": rid, "kind": kind, "style": style, "voice": voice,
                               "file_name": name, "renderer": RENDERER.name, "seconds": clip.duration,
                               "status": "ok", "reason": ""})
    failed = fail.get(cid) == "verify"
    work.log("verify").append({"id": cid, "status": "failed" if failed else "passed",
                               "reason": "wer 0.5 > 0.1" if failed else "", "wer": 0.5 if failed else 0.0,
                               "transcript": text, "analyzer_style": None})


def _jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def make_work(path, mode, records, fail=None, voice_split=None, extra_dropped=True):
    """A work folder written by hand: the four stage files and real espeak-ng clips."""
    fail = fail or {}
    voice_split = voice_split or {}
    work = WorkDir(path)
    work.begin("generate", {"mode": mode, "llm": "scripted", "n": len(records)})
    work.begin("filter", {"llm": "scripted"})
    work.begin("render", {"tts": "espeak-ng", "voices": 2 if mode == "polytone" else 1})
    work.begin("verify", {"asr": "openai/whisper-tiny", "max_wer": 0.1})
    for record in records:
        work.log("generate").append(record)
        work.log("filter").append({"id": record["id"], "status": "kept", "reason": "", "verdicts": {}})
    if extra_dropped:  # records dropped earlier never reach export
        work.log("generate").append({**records[0], "id": "emotion-test-0900", "status": "dropped", "reason": "bad"})
        work.log("generate").append({**records[0], "id": "emotion-test-0901"})
        work.log("filter").append({"id": "emotion-test-0901", "status": "dropped", "reason": "not neutral",
                                   "verdicts": {}})
    for record in records:
        rid, split, text = record["id"], record["split"], record["text"]
        vsplit = voice_split.get(rid, split)
        for style in record["styles"]:
            if mode == "polytone":
                for k in range(2):
                    _clip(work, rid, f"{rid}-{style}-v{k}", "query", style, text, split, fail, vsplit,
                          seed=f"{rid}-{style}-v{k}")
            else:
                _clip(work, rid, f"{rid}-{style}", "query", style, text, split, fail, vsplit)
            if mode == "sft":
                per = record["per_style"][style]
                _clip(work, rid, f"{rid}-{style}-reply", "reply", per["reference_reply_style"],
                      per["reference_reply"], split, fail, vsplit)
    for stage, n in (("generate", len(records)), ("filter", len(records))):
        work.record_summary(parass2s_hf.construct.StageSummary(stage, n, n))
    return work


BENCH_RECORDS = [
    _record("emotion-test-0000", "test", "work", "They moved our desks again.", ("happy", "sad")),
    _record("emotion-test-0001", "test", "work", "The meeting got cancelled.", ("surprised", "angry")),
    _record("emotion-train-0000", "train", "travel", "Our flight leaves at six.", ("happy", "fear")),
    _record("emotion-train-0001", "train", "food", "They changed the menu.", ("sad", "disgust")),
]


@pytest.fixture(scope="module")
def bench_work(tmp_path_factory):
    return make_work(tmp_path_factory.mktemp("bench") / "work", "benchmark", BENCH_RECORDS,
                     fail={"emotion-train-0001-disgust": "verify"})


@pytest.fixture(scope="module")
def bench_export(bench_work, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bench-out") / "data")
    summary = run_export(bench_work, ExportConfig(out=out, max_shard_rows=2))
    return out, summary


def test_benchmark_export_loads_through_the_builder(bench_export, tmp_path):
    out, _ = bench_export
    assert sorted(os.listdir(out)) == [MARKER_FILE, "README.md", "audio", "metadata.jsonl", "parquet"]
    rows = _jsonl(os.path.join(out, "metadata.jsonl"))
    assert {r["file_name"] for r in rows} == {f"audio/{r['split']}/{r['id']}.flac" for r in rows}
    first = rows[0]
    assert first["pair_id"] == "emotion-test-0000" and first["source"] == "espeak-ng"
    assert first["reference_reply_style"] == "cheerful" and first["requirement"] == "fits happy"
    assert first["topic"] == "work" and first["scenario"] == "scenario of emotion-test-0000"

    test = parass2s_hf.load_parass2sbench("emotion", split="test", data_dir=out, cache_dir=str(tmp_path / "c"))
    assert len(test) == 4 and set(test["pair_id"]) == {"emotion-test-0000", "emotion-test-0001"}
    assert test.features == parass2s_hf.FEATURES
    assert test[0]["audio"].get_all_samples().sample_rate == 16000
    train = datasets.load_dataset("parass2sbench", "emotion", data_dir=out, split="train",
                                  cache_dir=str(tmp_path / "c2"))
    assert train["id"] == ["emotion-train-0000-happy", "emotion-train-0000-fear"]
    # the same folder reads as an audiofolder, with the benchmark columns
    folder = datasets.load_dataset("audiofolder", data_dir=out, cache_dir=str(tmp_path / "c3"))
    assert set(folder) == {"test", "train"} and len(folder["test"]) == 4
    assert set(folder["test"].column_names) == set(parass2s_hf.FEATURES)
    assert folder["test"]["id"] == test["id"]


def test_a_pair_that_lost_one_style_is_dropped_whole_and_counted(bench_work, bench_export):
    out, summary = bench_export
    ids = {row["id"] for row in _jsonl(os.path.join(out, "metadata.jsonl"))}
    assert not any(i.startswith("emotion-train-0001") for i in ids)
    # 7 clips passed verify (disgust failed); the sad clip of the broken pair is dropped with the reason
    assert summary["in"] == 7 and summary["out"] == 6
    assert summary["dropped"] == {"pair incomplete: disgust verify failed": 1}
    assert bench_work.summary()["export"] == summary


def test_render_failure_and_missing_verify_are_named(tmp_path):
    records = BENCH_RECORDS[:2] + [BENCH_RECORDS[2]]
    work = make_work(tmp_path / "w", "benchmark", records, fail={"emotion-test-0001-angry": "render"},
                     extra_dropped=False)
    # a clip with no verify line (verify interrupted) counts as not verified
    lines = _jsonl(work.file("verify"))
    with open(work.file("verify"), "w") as f:
        for line in lines:
            if line["id"] != "emotion-train-0000-fear":
                f.write(json.dumps(line) + "\n")
    summary = run_export(work, ExportConfig(out=str(tmp_path / "out"), parquet=False))
    assert summary["dropped"] == {"pair incomplete: angry render failed": 1,
                                  "pair incomplete: fear not verified": 1}
    assert summary["in"] == 4 and summary["out"] == 2
    assert not os.path.exists(tmp_path / "out" / "parquet")


def test_a_dimension_without_test_rows_is_warned_about(tmp_path, caplog):
    work = make_work(tmp_path / "w", "benchmark", [BENCH_RECORDS[2]], extra_dropped=False)
    out = tmp_path / "out"
    with caplog.at_level("WARNING", logger="parass2s_hf.construct.export"):
        run_export(work, ExportConfig(out=str(out), parquet=False))
    assert "no emotion pair has a test split" in caplog.text
    assert "No emotion test rows" in (out / "README.md").read_text()


def test_parquet_shards_embed_the_audio_and_the_card_configs_load_them(bench_export, tmp_path):
    out, _ = bench_export
    shards = sorted(os.listdir(os.path.join(out, "parquet")))
    assert shards == ["test-00000-of-00002.parquet", "test-00001-of-00002.parquet",
                      "train-00000-of-00001.parquet"]
    copy = str(tmp_path / "copy")
    shutil.copytree(out, copy)
    shutil.rmtree(os.path.join(copy, "audio"))
    os.remove(os.path.join(copy, "metadata.jsonl"))
    ds = datasets.load_dataset(copy, cache_dir=str(tmp_path / "c"))  # through the card's `configs`
    assert set(ds) == {"test", "train"} and len(ds["test"]) == 4 and len(ds["train"]) == 2
    assert ds["test"].features == parass2s_hf.FEATURES
    raw = ds["test"].cast_column("audio", datasets.Audio(decode=False))[0]["audio"]
    with open(os.path.join(out, "audio", "test", f"{ds['test'][0]['id']}.flac"), "rb") as f:
        assert raw["bytes"] == f.read()
    assert ds["test"][0]["audio"].get_all_samples().data.shape[1] > 8000


def test_card_has_the_settings_counts_summary_table_and_notes(bench_export):
    out, _ = bench_export
    with open(os.path.join(out, "README.md")) as f:
        card = f.read()
    assert card.startswith("---\n") and "license: unknown" in card and "config_name: default" in card
    assert "path: parquet/test-*.parquet" in card
    assert "| stage | in | out | dropped | dropped by reason | already done |" in card
    assert "| export | 7 | 6 | 1 | pair incomplete: disgust verify failed: 1 | 0 |" in card
    assert "| generate |" in card
    assert "asr=`openai/whisper-tiny`" in card and "tts=`espeak-ng`" in card
    assert "| test | emotion | happy | 1 |" in card
    assert "espeak-ng is not emotional speech" in card and "Synthetic speech" in card


def test_topic_overlap_is_refused_naming_the_topic(tmp_path):
    records = [BENCH_RECORDS[0], {**BENCH_RECORDS[2], "topic": "work"}]
    work = make_work(tmp_path / "w", "benchmark", records, extra_dropped=False)
    with pytest.raises(ValueError, match=r"topics \['work'\]"):
        run_export(work, ExportConfig(out=str(tmp_path / "out")))
    with pytest.raises(ValueError, match=r"topics \['work'\]"):  # voices may be allowed to overlap, topics never
        run_export(work, ExportConfig(out=str(tmp_path / "out"), allow_voice_overlap=True), overwrite=True)
    assert not os.path.exists(tmp_path / "out")


def test_voice_overlap_is_refused_naming_the_voices(tmp_path):
    records = [BENCH_RECORDS[0], BENCH_RECORDS[2]]
    # the train pair is rendered with test (male) voices
    work = make_work(tmp_path / "w", "benchmark", records, voice_split={"emotion-train-0000": "test"},
                     extra_dropped=False)
    rendered = {line["id"]: line["voice"] for line in work.read("render")}
    shared = sorted({rendered["emotion-train-0000-happy"], rendered["emotion-train-0000-fear"]}
                    & {rendered["emotion-test-0000-happy"], rendered["emotion-test-0000-sad"]})
    if not shared:  # make the overlap certain
        line = dict(work.read("render")[-1], voice=rendered["emotion-test-0000-happy"])
        work.log("render").append(line)
        shared = [rendered["emotion-test-0000-happy"]]
    with pytest.raises(ValueError, match="voices") as err:
        run_export(work, ExportConfig(out=str(tmp_path / "out")))
    assert all(v in str(err.value) for v in shared) and "topics" not in str(err.value)
    # a renderer whose voices cannot be split: accepted on request, and said in the card
    run_export(work, ExportConfig(out=str(tmp_path / "out"), parquet=False, allow_voice_overlap=True),
               overwrite=True)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "they share" in card and shared[0] in card


def test_polytone_export_is_an_audiofolder_with_train_and_test(tmp_path):
    records = [_record("sarcasm-test-0000", "test", "work", "Great, another meeting.", ("sincere", "sarcastic"),
                       dimension="sarcasm", per_style=False),
               _record("sarcasm-train-0000", "train", "food", "Lovely, soup again.", ("sincere", "sarcastic"),
                       dimension="sarcasm", per_style=False)]
    work = make_work(tmp_path / "w", "polytone", records, fail={"sarcasm-train-0000-sarcastic-v1": "verify"},
                     extra_dropped=False)
    out = str(tmp_path / "out")
    summary = run_export(work, ExportConfig(out=out))
    assert summary["in"] == 7 and summary["out"] == 7 and summary["dropped"] == {}
    assert sorted(os.listdir(os.path.join(out, "test"))) == [
        "metadata.jsonl", "sarcasm-test-0000-sarcastic-v0.flac", "sarcasm-test-0000-sarcastic-v1.flac",
        "sarcasm-test-0000-sincere-v0.flac", "sarcasm-test-0000-sincere-v1.flac"]
    ds = datasets.load_dataset("audiofolder", data_dir=out, cache_dir=str(tmp_path / "c"))
    assert set(ds) == {"train", "test"} and len(ds["test"]) == 4 and len(ds["train"]) == 3
    assert set(ds["test"].column_names) == {"audio", "id", "record_id", "split", "dimension", "topic", "style", "text",
                                            "voice", "source"}
    row = ds["test"][0]
    assert row["record_id"] == "sarcasm-test-0000" and row["style"] == "sincere" and row["split"] == "test"
    assert row["audio"].get_all_samples().sample_rate == 16000
    assert Counter(ds["train"]["style"]) == {"sincere": 2, "sarcastic": 1}


def test_sft_export_has_query_and_reply_audio_and_the_target(tmp_path):
    records = [BENCH_RECORDS[0], BENCH_RECORDS[2]]
    work = make_work(tmp_path / "w", "sft", records, fail={"emotion-train-0000-fear-reply": "render"},
                     extra_dropped=False)
    out = str(tmp_path / "out")
    summary = run_export(work, ExportConfig(out=out))
    assert summary["in"] == 7 and summary["out"] == 6
    assert summary["dropped"] == {"pair incomplete: fear reply render failed": 1}
    ds = datasets.load_dataset("audiofolder", data_dir=out, cache_dir=str(tmp_path / "c"))
    assert set(ds) == {"train", "test"} and len(ds["test"]) == 2 and len(ds["train"]) == 1
    assert {"audio", "reply", "target", "reply_style", "reply_text", "reply_voice"} <= set(ds["test"].column_names)
    row = ds["test"][0]
    assert row["id"] == "emotion-test-0000-happy" and row["reply_style"] == "cheerful"
    assert row["target"] == format_reply("cheerful", "A reply to happy for emotion-test-0000.")
    query, reply = row["audio"].get_all_samples(), row["reply"].get_all_samples()
    assert query.data.shape != reply.data.shape  # two different clips
    # the Parquet shards hold both audio columns' bytes
    copy = str(tmp_path / "copy")
    shutil.copytree(out, copy)
    for split in ("test", "train"):
        shutil.rmtree(os.path.join(copy, split))
    pq = datasets.load_dataset(copy, cache_dir=str(tmp_path / "c2"))
    assert pq["test"][0]["reply"].get_all_samples().data.shape == reply.data.shape
    assert pq["test"][0]["target"] == row["target"]


def test_push_to_hub_creates_the_repo_and_uploads_the_folder(bench_work, tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))
            return f"https://huggingface.co/datasets/{repo_id}"

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    out = str(tmp_path / "out")
    run_export(bench_work, ExportConfig(out=out, push_to_hub="me/emo", private=True, parquet=False),
               overwrite=True)
    assert calls[0] == ("create_repo", "me/emo", {"repo_type": "dataset", "exist_ok": True, "private": True})
    upload = calls[1][1]
    assert upload["folder_path"] == out and upload["repo_id"] == "me/emo" and upload["repo_type"] == "dataset"
    assert MARKER_FILE in upload["ignore_patterns"]


def test_rerun_replaces_the_export_and_a_foreign_out_is_refused(tmp_path):
    work = make_work(tmp_path / "w", "benchmark", [BENCH_RECORDS[0]], extra_dropped=False)
    out = tmp_path / "out"
    run_export(work, ExportConfig(out=str(out), parquet=False))
    (out / "stale.txt").write_text("left from an older export")
    first = (out / "metadata.jsonl").read_text()
    summary = run_export(work, ExportConfig(out=str(out), parquet=False))
    assert summary["out"] == 2 and not (out / "stale.txt").exists()
    assert (out / "metadata.jsonl").read_text() == first
    assert json.loads((out / MARKER_FILE).read_text())["work_dir"] == work.path
    assert not glob.glob(str(tmp_path / ".out.export-*"))

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not an export of this work folder"):
        run_export(work, ExportConfig(out=str(foreign), parquet=False))
    assert (foreign / "notes.txt").read_text() == "keep me"
    # an export of another work folder is refused too; overwrite replaces it
    other = make_work(tmp_path / "w2", "benchmark", [BENCH_RECORDS[0]], extra_dropped=False)
    with pytest.raises(ValueError, match="export of another work folder"):
        run_export(other, ExportConfig(out=str(out), parquet=False))
    run_export(other, ExportConfig(out=str(out), parquet=False), overwrite=True)
    assert json.loads((out / MARKER_FILE).read_text())["work_dir"] == other.path
    with pytest.raises(ValueError, match="work folder"):
        run_export(work, ExportConfig(out=str(tmp_path)), overwrite=True)


def test_bad_settings_and_missing_stages(tmp_path):
    with pytest.raises(ValueError, match="max_shard_rows"):
        ExportConfig(out="x", max_shard_rows=0)
    with pytest.raises(ValueError, match="push_to_hub"):
        ExportConfig(out="x", push_to_hub="not a repo")
    work = WorkDir(tmp_path / "w")
    work.begin("generate", {"mode": "benchmark"})
    work.log("generate").append(BENCH_RECORDS[0])
    with pytest.raises(ValueError, match="filtered.jsonl"):
        run_export(work, ExportConfig(out=str(tmp_path / "out")))
