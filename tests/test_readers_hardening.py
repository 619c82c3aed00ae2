"""Readers of user-supplied data refuse paths that leave their folder, see edited inputs on the next load (no cache
outlives its inputs), and answer bad input with a `ValueError` naming the file, the line or record and what was
expected: PolyTone folders, teacher pairs from a run folder, ratings and run folders, prompt and demonstration
datasets."""

import json
import os

import datasets
import numpy as np
import pytest
import soundfile as sf
from conftest import tone, write_data_dir

from parass2s_hf.align import to_policy_rows, validate_prompt_audio
from parass2s_hf.align.sft import demonstration_rows, demonstration_target, merge_lora_and_save
from parass2s_hf.analyzers import load_polytone
from parass2s_hf.distill import (
    pairs_from_run,
    pairs_to_dataset,
    rendered_candidates,
    score_pairs_with_judge,
    split_pairs,
)
from parass2s_hf.validation import read_ratings, read_run

SR = 16000

# ------------------------------------------------------------------------------------------------- PolyTone folders


def polytone_rows(n=2, styles=("male", "female")):
    return [{"id": f"t{i}-{s}", "record_id": f"t{i}", "split": "train", "dimension": "gender", "topic": "t",
             "style": s, "text": f"text {i}", "voice": "v", "source": "espeak-ng"} for i in range(n) for s in styles]


def write_metadata(folder, lines):
    """Write `metadata.jsonl` from raw lines (strings) or records (dicts)."""
    with open(os.path.join(folder, "metadata.jsonl"), "w") as f:
        f.writelines((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


@pytest.fixture
def polytone_dir(tmp_path):
    root = tmp_path / "pt"
    write_data_dir(str(root / "train"), polytone_rows())
    sf.write(str(tmp_path / "outside.wav"), tone(1.0, 999), SR)
    return root


@pytest.mark.parametrize("file_name", ["../outside.wav", "../../../../../etc/passwd", "/etc/passwd", "ABSOLUTE",
                                       "clips/link.wav"])
def test_load_polytone_refuses_file_names_outside_the_folder(polytone_dir, file_name):
    train = polytone_dir / "train"
    outside = str(polytone_dir.parent / "outside.wav")
    if file_name == "ABSOLUTE":
        file_name = outside
    if file_name == "clips/link.wav":  # a symlink inside the folder that points out of it
        os.symlink(outside, train / "clips" / "link.wav")
    rows = polytone_rows()
    rows[1]["file_name"] = file_name
    write_metadata(train, [{"file_name": f"clips/{r['id']}.wav", **r} for r in rows])
    with pytest.raises(ValueError, match=r"metadata.jsonl, line 2: file_name .*(leads outside|is an absolute path)"):
        load_polytone(str(polytone_dir), split="train", dimension="gender")


def test_load_polytone_checks_csv_metadata_too(polytone_dir):
    train = polytone_dir / "train"
    (train / "metadata.jsonl").unlink()
    (train / "metadata.csv").write_text("file_name,style,dimension\nclips/t0-male.wav,male,gender\n"
                                        "../outside.wav,female,gender\n")
    with pytest.raises(ValueError, match=r"metadata.csv, line 3: file_name '../outside.wav' leads outside"):
        load_polytone(str(polytone_dir), split="train")


@pytest.mark.parametrize("bad_line, expected", [
    ('{"file_name": "clips/t1-male.wav", "style": ', r"line 2: not valid JSON"),
    ("[1, 2]", r"line 2: expected a JSON object, got list"),
    ('{"style": "male"}', r"line 2: no file_name"),
    ('{"file_name": 3, "style": "male"}', r"line 2: file_name 3 is a int, not a path"),
    ('{"file_name": "clips/missing.wav", "style": "male"}', r"line 2: file_name 'clips/missing.wav': no such file"),
])
def test_load_polytone_names_the_bad_metadata_line(polytone_dir, bad_line, expected):
    train = polytone_dir / "train"
    good = {"file_name": "clips/t0-male.wav", **polytone_rows()[0]}
    write_metadata(train, [good, bad_line])
    with pytest.raises(ValueError, match=r"train/metadata.jsonl, " + expected):
        load_polytone(str(polytone_dir), split="train")


def test_load_polytone_names_columns_of_mixed_types(polytone_dir):
    train = polytone_dir / "train"
    rows = [{"file_name": f"clips/{r['id']}.wav", **r} for r in polytone_rows()]
    rows[1]["voice"] = 7  # datasets cannot put a number into a column of strings
    write_metadata(train, rows)
    with pytest.raises(ValueError, match=r"pt: datasets cannot build the rows of this audiofolder"):
        load_polytone(str(polytone_dir), split="train")


def test_load_polytone_keeps_a_last_line_without_newline_and_leaves_the_file_alone(polytone_dir):
    meta = polytone_dir / "train" / "metadata.jsonl"
    text = meta.read_text().rstrip("\n")
    meta.write_text(text)  # a hand-written file often ends without a newline: its last row is a whole row
    assert len(load_polytone(str(polytone_dir), split="train")) == 4
    assert meta.read_text() == text


def test_load_polytone_sees_edits_on_the_next_load(polytone_dir):
    """Load, edit the metadata, load again: the edit is seen, also when the edit keeps the file's modification time
    (`cp -p`, `rsync -t`, an unpacked archive), which is all `datasets` keys its cache of local files on."""
    train = polytone_dir / "train"
    meta = train / "metadata.jsonl"
    rows = [{"file_name": f"clips/{r['id']}.wav", **r} for r in polytone_rows()]
    write_metadata(train, rows)
    assert load_polytone(str(polytone_dir), split="train")["text"][0] == "text 0"

    rows[0]["text"] = "an edited text"
    write_metadata(train, rows)
    assert load_polytone(str(polytone_dir), split="train")["text"][0] == "an edited text"

    before = os.stat(meta)
    rows[0]["text"] = "edited again, with the modification time kept"
    write_metadata(train, rows)
    os.utime(meta, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert load_polytone(str(polytone_dir), split="train")["text"][0] == rows[0]["text"]

    # a clip replaced (its time kept too): the rows hold the path, so the new sound is what is decoded
    clip = train / rows[0]["file_name"]
    before = os.stat(clip)
    sf.write(str(clip), tone(1.0, 1234), SR)
    os.utime(clip, ns=(before.st_atime_ns, before.st_mtime_ns))
    audio = load_polytone(str(polytone_dir), split="train")[0]["audio"]
    array = audio.get_all_samples().data.numpy().ravel() if hasattr(audio, "get_all_samples") else audio["array"]
    crossings = int((np.diff(np.sign(array)) != 0).sum())
    assert abs(crossings - 2 * 1234) < 20


def test_load_polytone_names_a_missing_or_unreadable_folder(tmp_path):
    with pytest.raises(ValueError, match=r"nope: no such folder"):
        load_polytone(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match=r"nope: no such folder"):
        load_polytone(os.path.relpath(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: no metadata file and no data file datasets can read"):
        load_polytone(str(tmp_path / "empty"))
    broken = tmp_path / "saved"
    broken.mkdir()
    (broken / "state.json").write_text("{damaged")
    with pytest.raises(ValueError, match=r"saved: a save_to_disk folder that datasets cannot read"):
        load_polytone(str(broken))


# ------------------------------------------------------------------------------------------ teacher pairs from runs


def run_record(rid, response_path, **kw):
    return {"id": rid, "sample": 0, "system_fingerprint": "sys", "judge_fingerprint": "judge", "subset": "emotion",
            "dimension": "emotion", "style": "happy", "status": "ok", "score": 4, "score_expected": 3.5,
            "response_path": response_path, **kw}


@pytest.fixture
def run_folder(tmp_path):
    """A run folder with two scored records, and the benchmark rows it evaluated (in memory)."""
    folder = tmp_path / "run"
    (folder / "responses").mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"system": "x", "system_fingerprint": "sys",
                                                 "judge_fingerprint": "judge"}))
    for rid in ("a", "b"):
        sf.write(str(folder / "responses" / f"{rid}__0.flac"), tone(0.4, 300), SR)
    sf.write(str(tmp_path / "outside.flac"), tone(0.4, 500), SR)
    rows = datasets.Dataset.from_list([{"id": rid, "audio": {"array": tone(0.5, 200), "sampling_rate": SR},
                                        "dimension": "emotion", "requirement": "r"} for rid in ("a", "b")])
    return folder, rows


def write_results(folder, records):
    with open(folder / "results.jsonl", "w") as f:
        f.writelines((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


@pytest.mark.parametrize("response_path", ["../outside.flac", "ABSOLUTE", "/etc/passwd", "responses/link.flac"])
def test_pairs_from_run_refuses_response_paths_outside_the_run_folder(run_folder, response_path):
    folder, rows = run_folder
    outside = str(folder.parent / "outside.flac")
    if response_path == "ABSOLUTE":
        response_path = outside
    if response_path == "responses/link.flac":
        os.symlink(outside, folder / "responses" / "link.flac")
    write_results(folder, [run_record("a", "responses/a__0.flac"), run_record("b", response_path)])
    with pytest.raises(ValueError, match=r"results.jsonl, record 'b' \(sample 0\): response_path .*"
                                         r"(leads outside|is an absolute path)"):
        pairs_from_run(str(folder), rows)


def test_pairs_from_run_names_damaged_files_and_records(run_folder):
    folder, rows = run_folder
    good = run_record("a", "responses/a__0.flac")
    write_results(folder, [good])
    assert len(pairs_from_run(str(folder), rows).dataset) == 1
    (folder / "run.json").write_text("{damaged")
    with pytest.raises(ValueError, match=r"run.json: the run file is damaged"):
        pairs_from_run(str(folder), rows)
    (folder / "run.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"run.json: expected a JSON object \(the run file\), got list"):
        pairs_from_run(str(folder), rows)
    (folder / "run.json").unlink()
    lacking = {k: v for k, v in good.items() if k not in ("status", "subset")}
    write_results(folder, [good, lacking])
    with pytest.raises(ValueError, match=r"results.jsonl, record 2 \('a'\): missing field\(s\) \['subset', 'status'\]"):
        pairs_from_run(str(folder), rows)
    write_results(folder, [good, {**good, "sample": [0]}])
    with pytest.raises(ValueError, match=r"results.jsonl, record 2 \('a'\): sample \[0\] is not an integer"):
        pairs_from_run(str(folder), rows)
    write_results(folder, [{**good, "score_expected": "high"}])
    with pytest.raises(ValueError, match=r"results.jsonl, record 'a' \(sample 0\): teacher score 'high' is not a "
                                         r"number"):
        pairs_from_run(str(folder), rows)
    write_results(folder, [good])
    with pytest.raises(ValueError, match=r"the benchmark rows have no column\(s\) \['id'\]"):
        pairs_from_run(str(folder), rows.remove_columns(["id"]))


def test_pair_builders_name_missing_columns_and_wrong_types(tmp_path):
    with pytest.raises(ValueError, match=r"pair 'p': missing \['response_audio'\]"):
        pairs_to_dataset([{"id": "p", "query_audio": tone(0.2), "teacher_score": 3}])
    with pytest.raises(ValueError, match=r"pair 0 is a list, not a dict"):
        pairs_to_dataset([[1, 2]])
    with pytest.raises(ValueError, match=r"item 0: unknown field\(s\) \['query'\]"):
        score_pairs_with_judge(None, [{"query": tone(0.2), "response_audio": tone(0.2)}])
    with pytest.raises(ValueError, match=r"the pairs have no 'id' column"):
        split_pairs(datasets.Dataset.from_list([{"x": 1}, {"x": 2}]))
    with pytest.raises(ValueError, match=r"row 'r1' has no 'audio'"):
        rendered_candidates([{"id": "r1", "reference_reply": "Hi.", "reference_reply_style": "warm"}], None)


# -------------------------------------------------------------------------------------------- ratings and run folders


def test_read_ratings_names_a_file_that_is_not_utf8_and_values_of_the_wrong_type(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,human_score,system\nr1,4,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.csv: not UTF-8 text"):
        read_ratings(latin)
    latin_jsonl = tmp_path / "latin.jsonl"
    latin_jsonl.write_bytes('{"id": "r1", "human_score": 4, "system": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.jsonl: not UTF-8 text"):
        read_ratings(latin_jsonl)
    listed = tmp_path / "listed.jsonl"
    listed.write_text('{"id": "r1", "human_score": 4}\n{"id": ["r2"], "human_score": 4}\n')
    with pytest.raises(ValueError, match=r"listed.jsonl, line 2: id \['r2'\] is a list; expected a string"):
        read_ratings(listed)
    boolean = tmp_path / "bool.jsonl"
    boolean.write_text('{"id": "r1", "human_score": true}\n')
    with pytest.raises(ValueError, match=r"bool.jsonl, line 1: human_score True is not a number"):
        read_ratings(boolean)


def make_run_folder(folder, lines, manifest=None, run=None):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "results.jsonl", "w") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    if manifest is not None:
        (folder / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    if run is not None:
        (folder / "run.json").write_text(run if isinstance(run, str) else json.dumps(run))
    return folder


def test_read_run_names_damaged_files_and_fields(tmp_path):
    line = {"id": "a", "sample": 0, "status": "ok", "score": 4}
    assert read_run(make_run_folder(tmp_path / "ok", [line])).scores == {"a": 4.0}
    with pytest.raises(ValueError, match=r"manifest.json: the run manifest is damaged"):
        read_run(make_run_folder(tmp_path / "m1", [line], manifest="{damaged"))
    with pytest.raises(ValueError, match=r"manifest.json: expected a JSON object \(the run manifest\), got list"):
        read_run(make_run_folder(tmp_path / "m2", [line], manifest=["x"]))
    with pytest.raises(ValueError, match=r"manifest.json: 'system' is a str; expected an object"):
        read_run(make_run_folder(tmp_path / "m3", [line], manifest={"system": "omni"}))
    with pytest.raises(ValueError, match=r"run.json: the run file is damaged"):
        read_run(make_run_folder(tmp_path / "r1", [line], run="{damaged"))
    with pytest.raises(ValueError, match=r"run.json: expected a JSON object \(the run file\), got list"):
        read_run(make_run_folder(tmp_path / "r2", [line], run=[1]))
    with pytest.raises(ValueError, match=r"results.jsonl, record 'a' \(sample 0\): score 'high' is not a number"):
        read_run(make_run_folder(tmp_path / "s1", [{**line, "score": "high"}]))
    with pytest.raises(ValueError, match=r"results.jsonl, record 'a': sample \[0\] is not an integer"):
        read_run(make_run_folder(tmp_path / "s2", [{**line, "sample": [0]}]))


# ------------------------------------------------------------------------------------ prompt and demonstration data


def test_prompt_and_demonstration_readers_name_wrong_types(tmp_path):
    rows = [{"id": "a", "audio": tone(0.5).tolist()}]
    for call in (lambda: to_policy_rows(rows), lambda: validate_prompt_audio(rows), lambda: demonstration_rows(rows)):
        with pytest.raises(ValueError, match=r"must be a map-style datasets.Dataset, got list.*Dataset.from_list"):
            call()
    numbers = datasets.Dataset.from_list([{"id": "a", "reference_reply": 5, "reference_reply_style": "warm"}])
    with pytest.raises(ValueError, match=r"column 'reference_reply' holds int64, not text"):
        demonstration_rows(numbers)
    with pytest.raises(ValueError, match=r"Demonstration row 'a': reference_reply 5 is a int; expected text"):
        demonstration_target(numbers[0])
    texts = datasets.Dataset.from_list([{"id": "a", "reference_reply": "Hi.", "reference_reply_style": "warm"}])
    with pytest.raises(ValueError, match=r"limit='1'; expected a positive number"):
        demonstration_rows(texts, limit="1")


def test_merge_names_a_damaged_adapter_config(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{damaged")
    with pytest.raises(ValueError, match=r"adapter_config.json: the PEFT adapter config is damaged"):
        merge_lora_and_save(str(adapter), str(tmp_path / "out"))
