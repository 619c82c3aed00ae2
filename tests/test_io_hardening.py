"""Nothing stale, one process per run folder, damaged logs repaired: the content hashes behind every cache key, the
precomputed system's fingerprint, the ParaS2SBench cache of a `data_dir`, the run folder's lock, and `--repair`."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from conftest import tone
from test_evaluation import ScriptedJudge, results, run

from parass2s_hf.io import (
    FolderLock,
    FolderLockedError,
    JsonlLog,
    file_hash,
    folder_signature,
    hash_cache_file,
    iter_jsonl,
    read_jsonl,
)


def open_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.readlines()


def test_file_hash_follows_content_even_at_the_same_size_and_is_remembered(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 1000)
    first = file_hash(path)
    path.write_bytes(b"y" * 1000)  # same size, other content
    assert file_hash(path) != first
    entries = len(open_lines(hash_cache_file()))
    file_hash(path)  # unchanged: answered from the cache, nothing appended
    assert len(open_lines(hash_cache_file())) == entries


def test_precomputed_responses_are_fingerprinted_by_content(tmp_path):
    from parass2s_hf.s2s import build_system
    from parass2s_hf.s2s.base import system_fingerprint

    folder = tmp_path / "responses"
    folder.mkdir()
    sf.write(folder / "a.wav", tone(1.0, 200), 16000)
    sf.write(folder / "b.wav", tone(1.0, 300), 16000)
    before = system_fingerprint(build_system("precomputed", responses=str(folder)))
    assert system_fingerprint(build_system("precomputed", responses=str(folder))) == before
    size = os.path.getsize(folder / "b.wav")
    sf.write(folder / "b.wav", tone(1.0, 440), 16000)  # another response of exactly the same size
    assert os.path.getsize(folder / "b.wav") == size
    assert system_fingerprint(build_system("precomputed", responses=str(folder))) != before


def _data_dir(folder, text="It is raining again.", freq=200.0):
    os.makedirs(folder / "clips", exist_ok=True)
    rows = []
    for k, style in enumerate(("happy", "sad")):
        name = f"clips/{style}.wav"
        sf.write(folder / name, tone(1.0, freq + 50 * k), 16000)
        rows.append({"id": f"p1-{style}", "pair_id": "p1", "split": "test", "dimension": "emotion", "style": style,
                     "text": text, "requirement": "r", "reference_reply": "ok", "reference_reply_style": "warm",
                     "file_name": name})
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_data_dir_edited_after_loading_is_loaded_again(tmp_path):
    """The defect: editing metadata.jsonl or replacing a clip returned the old cached rows."""
    import datasets

    import parass2s_hf
    from parass2s_hf import load_audio

    folder = tmp_path / "mine"
    _data_dir(folder)
    ds = datasets.load_dataset("parass2sbench", "emotion", data_dir=str(folder), split="test")
    assert set(ds["text"]) == {"It is raining again."}
    _data_dir(folder, text="It is snowing again.")  # the texts change
    ds = datasets.load_dataset("parass2sbench", "emotion", data_dir=str(folder), split="test")
    assert set(ds["text"]) == {"It is snowing again."}
    old = load_audio(ds[0]["audio"]).array
    _data_dir(folder, text="It is snowing again.", freq=400.0)  # the clips are replaced, same names and sizes
    ds = parass2s_hf.load_parass2sbench("emotion", split="test", data_dir=str(folder))
    assert not np.allclose(load_audio(ds[0]["audio"]).array, old)
    assert folder_signature(folder) == folder_signature(folder)  # nothing changed: the cache is used


def test_a_second_process_on_a_run_folder_is_told_who_holds_it(tmp_path, sample_test):
    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys, time; from parass2s_hf.io import FolderLock; "
         "lock = FolderLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"), str(folder)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderLockedError) as caught:
            run(tmp_path, sample_test)
        message = str(caught.value)
        assert f"process {holder.pid} on " in message and " since " in message
        assert "delete" in message and os.path.join(str(folder), ".lock") in message
        assert not (folder / "results.jsonl").exists()  # the second process did nothing
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the lock died with its process (kill -9 included): no stale lock to clear by hand
    _, report = run(tmp_path, sample_test)
    assert report["counts"]["total"]["items_scored"] == 48
    with FolderLock(folder):  # and it is free again after a run
        pass


def test_a_damaged_results_line_is_repaired_not_overwritten(tmp_path, sample_test):
    _, reference = run(tmp_path, sample_test)
    path = tmp_path / "run" / "results.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[10] = '{"id": "damaged by a disk fault\n'
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match=r"results.jsonl, line 11: not a valid record .*--repair"):
        run(tmp_path, sample_test)
    with pytest.raises(ValueError, match="--repair"):  # --overwrite with the same settings does not help
        run(tmp_path, sample_test, overwrite=True)
    judge = ScriptedJudge()
    _, repaired = run(tmp_path, sample_test, judge=judge, repair=True)
    assert len(judge.seen) == 1 and repaired == reference  # only the damaged item was judged again
    rejected = [json.loads(line) for line in open_lines(str(path) + ".rejected")]
    assert rejected == [{"line": 11, "text": '{"id": "damaged by a disk fault'}]
    assert len(results(tmp_path / "run")) == 48


def test_jsonl_log_reports_a_line_that_is_not_an_object(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"id": 1}\n[1, 2]\n{"id": 2}\n')
    with pytest.raises(ValueError, match=r"line 2: not a valid record \(a JSON list, not an object\)"):
        list(JsonlLog(path))
    assert [r["id"] for r in JsonlLog(path, repair=True)] == [1, 2]
    assert [r["id"] for r in JsonlLog(path)] == [1, 2]  # the file itself was repaired


def test_the_lock_is_released_when_the_holder_finishes(tmp_path):
    lock = FolderLock(tmp_path / "x").acquire()
    with pytest.raises(FolderLockedError, match="is in use"):
        FolderLock(tmp_path / "x").acquire()
    lock.release()
    started = time.time()
    with FolderLock(tmp_path / "x"):
        assert time.time() - started < 1


# ------------------------------------------------------------------------------------------ iter_jsonl, read_jsonl


def test_read_jsonl_skips_blank_lines_and_numbers_lines_as_an_editor_does(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a"}\n\n   \r\n{"id": "b"}')  # a byte-order mark, blank lines, no last newline
    assert read_jsonl(path) == [{"id": "a"}, {"id": "b"}]
    assert list(iter_jsonl(path)) == [(1, {"id": "a"}), (4, {"id": "b"})]


@pytest.mark.parametrize(("text", "message"), [
    ('{"id": "a", "audio": "a.wav"}\n\n{"id": "b",\n', r"rows.jsonl, line 3: not valid JSON: Expecting"),
    ('{"id": "a", "audio": "a.wav"}\n[1, 2]\n', r"rows.jsonl, line 2: expected a JSON object, got list\."),
    ('{"id": "a", "audio": "a.wav"}\n{"id": "b", "audio": " "}\n',
     r"rows.jsonl, line 2: missing or empty field\(s\) \['audio'\] \(id 'b'\); every line of the manifest needs"),
    ('{"audio": "a.wav", "id": null}\n', r"rows.jsonl, line 1: missing or empty field\(s\) \['id'\];"),
])
def test_read_jsonl_names_the_file_and_line_of_a_damaged_or_incomplete_record(tmp_path, text, message):
    path = tmp_path / "rows.jsonl"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_jsonl(path, "manifest", required=("id", "audio"))
    assert path.read_text() == text  # a file someone wrote is never changed


def test_iter_jsonl_gives_a_line_before_reading_the_next(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a"}\n{not json\n')
    lines = iter_jsonl(path)
    assert next(lines) == (1, {"id": "a"})  # a caller's own check of line 1 runs (and names it) before line 2's error
    with pytest.raises(ValueError, match=r"rows.jsonl, line 2: not valid JSON"):
        next(lines)


def test_read_jsonl_names_a_missing_file_and_one_that_is_not_utf8(tmp_path):
    with pytest.raises(ValueError, match=r"absent.jsonl: no such ratings file"):
        read_jsonl(tmp_path / "absent.jsonl", "ratings file")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"id": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.jsonl: not UTF-8 text .*save it as UTF-8"):
        read_jsonl(latin, "ratings file")


def test_read_jsonl_can_skip_what_a_crash_tore_for_a_cache(tmp_path):
    path = tmp_path / "perception.jsonl"
    text = '{"k": "a", "v": "hello"}\n{"v": "no key"}\n{"k": "b", "v": ""}\n{"k": "c", "v": "cut sh'
    path.write_text(text)
    assert read_jsonl(path, required=("k",), skip_damaged=True) == [{"k": "a", "v": "hello"}, {"k": "b", "v": ""}]
    assert path.read_text() == text

    from parass2s_hf.judge.perception import PerceptionCache

    assert PerceptionCache(str(tmp_path)).values == {"a": "hello", "b": ""}
