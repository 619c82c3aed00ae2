"""People in the loop: listeners' decisions on a work folder's rendered records (`construct/human_check.py`), and
export dropping the records they rejected. Work folders are built offline: the scripted LLM (generate, filter),
espeak-ng (render) and an ASR stand-in (verify)."""

import json
import os
import shutil
import threading

import pytest
from build_helpers import ScriptedLLM

from parass2s_hf.construct import WorkDir
from parass2s_hf.construct import human_check as hc
from parass2s_hf.construct.export import MARKER_FILE, ExportConfig, run_export
from parass2s_hf.construct.filter import FilterConfig, run_filter
from parass2s_hf.construct.generate import GenerateConfig, run_generate
from parass2s_hf.construct.render_stage import RenderConfig, run_render
from parass2s_hf.construct.verify import VerifyConfig, run_verify


class AnyASR:
    """Transcribes every clip as "x": under a huge max_wer every clip passes verify."""

    def transcribe(self, arrays):
        return ["x"] * len(arrays)


def _built(path, mode, dimension, n):
    work = WorkDir(path)
    llm = ScriptedLLM()
    run_generate(work, GenerateConfig(dimension=dimension, n=n, mode=mode), llm)
    run_filter(work, FilterConfig(), llm)
    run_render(work, RenderConfig(voices_per_style=2 if mode == "polytone" else None))
    run_verify(work, VerifyConfig(max_wer=1000), asr=AnyASR())
    return work


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One finished work folder per mode (built once; each test works on its own copy)."""
    root = tmp_path_factory.mktemp("built")
    return {"benchmark": _built(root / "bench", "benchmark", "emotion", 4),
            "polytone": _built(root / "poly", "polytone", "gender", 2),
            "sft": _built(root / "sft", "sft", "emotion", 2)}


@pytest.fixture
def copy(built, tmp_path):
    def make(mode="benchmark"):
        target = tmp_path / f"work-{mode}"
        shutil.copytree(built[mode].path, target)
        return WorkDir(target)
    return make


def _metadata(out, split=None):
    path = os.path.join(out, split, "metadata.jsonl") if split else os.path.join(out, "metadata.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_items_list_the_kept_rendered_records_with_a_clip_per_style(copy):
    work = copy()
    items = hc.items_to_check(work)
    assert [i["id"] for i in items] == sorted(r["id"] for r in work.read("generate"))
    first = items[0]
    assert set(first) == {"id", "split", "dimension", "text", "styles", "clips"}
    assert len(first["styles"]) == 2 and list(first["clips"]) == first["styles"]
    for style, path in first["clips"].items():
        assert path == f"audio/{first['id']}-{style}.flac" and os.path.isfile(os.path.join(work.path, path))
    # a record one of whose styles failed to render cannot be heard as a pair: not listed, and not decidable
    broken = items[1]
    clip = f"{broken['id']}-{broken['styles'][1]}"
    line = next(line for line in work.read("render") if line["id"] == clip)
    work.log("render").append({**line, "status": "failed", "file_name": None, "reason": "renderer error"})
    assert broken["id"] not in {i["id"] for i in hc.items_to_check(work.path)}  # a path works as well as a WorkDir
    with pytest.raises(ValueError, match=rf"record_id='{broken['id']}' is not a rendered record"):
        hc.record_decision(work, "ana", broken["id"], "accept")
    # polytone: one clip per style, the first voice
    poly = hc.items_to_check(copy("polytone"))
    assert poly[0]["clips"] == {s: f"audio/{poly[0]['id']}-{s}-v0.flac" for s in poly[0]["styles"]}


def test_a_rejected_record_disappears_from_the_export_and_is_counted_by_reason(copy, tmp_path):
    work = copy()
    items = hc.items_to_check(work)
    rejected, accepted = items[0]["id"], items[1]["id"]
    line = hc.record_decision(work, "ana", rejected, "reject", "words give the style away", comment="'thrilled'")
    assert line["rater"] == "ana" and line["reason"] == "words give the style away" and line["time"].endswith("+00:00")
    hc.record_decision(work, "ana", accepted, "accept")
    with open(os.path.join(work.path, "human_check", "ana.jsonl")) as f:
        assert [json.loads(x)["record_id"] for x in f] == [rejected, accepted]

    out = str(tmp_path / "out")
    summary = run_export(work, ExportConfig(out=out, parquet=False))
    assert {r["pair_id"] for r in _metadata(out)} == {i["id"] for i in items} - {rejected}
    assert not any(name.startswith(rejected) for split in os.listdir(os.path.join(out, "audio"))
                   for name in os.listdir(os.path.join(out, "audio", split)))
    assert summary["in"] == 8 and summary["out"] == 6
    assert summary["dropped"] == {"rejected by a listener: words give the style away": 2}
    checked = summary["human_check"]
    assert checked["raters"] == ["ana"] and checked["records_checked"] == 2 and checked["records_rejected"] == 1
    assert checked["rejected_by_reason"] == {"words give the style away": 1} and len(checked["fingerprint"]) == 16
    assert work.summary()["export"] == summary
    with open(os.path.join(out, MARKER_FILE)) as f:
        assert json.load(f)["human_check"] == checked
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Checked by listeners." in card and "rejected by a listener: words give the style away: 2" in card


def test_a_rerun_after_new_decisions_applies_them_without_overwrite(copy, tmp_path):
    work = copy()
    ids = [i["id"] for i in hc.items_to_check(work)]
    out = str(tmp_path / "out")
    plain = run_export(work, ExportConfig(out=out, parquet=False))
    assert "human_check" not in plain and plain["dropped"] == {}  # no decisions: the export is as before
    hc.record_decision(work, "ana", ids[0], "reject", "audio defect")
    first = run_export(work, ExportConfig(out=out, parquet=False))  # decisions are an input, not a setting
    hc.record_decision(work, "ben", ids[1], "reject", "text implausible")
    second = run_export(work, ExportConfig(out=out, parquet=False))
    assert first["dropped"] == {"rejected by a listener: audio defect": 2}
    assert second["dropped"] == {"rejected by a listener: audio defect": 2, "rejected by a listener: text implausible": 2}
    assert second["human_check"]["fingerprint"] != first["human_check"]["fingerprint"]
    assert {r["pair_id"] for r in _metadata(out)} == set(ids[2:])
    # other export settings are still refused without --overwrite, as before
    with pytest.raises(ValueError, match="other settings"):
        run_export(work, ExportConfig(out=out, parquet=False, max_shard_rows=7))


def test_accept_then_reject_by_one_rater_is_rejected_and_the_latest_decision_wins(copy):
    work = copy()
    rid, other = (i["id"] for i in hc.items_to_check(work)[:2])
    hc.record_decision(work, "ana", rid, "accept")
    hc.record_decision(work, "ana", rid, "reject", "style not recognisable")
    assert hc.rejected_records(work) == {rid: "style not recognisable"}
    [latest] = hc.decisions(work)[rid]
    assert latest["decision"] == "reject"
    hc.record_decision(work, "ana", other, "reject", "other", comment="clipped at the end")
    hc.record_decision(work, "ana", other, "accept")  # changed her mind
    assert hc.rejected_records(work) == {rid: "style not recognisable"}


def test_undo_removes_the_raters_last_line(copy):
    work = copy()
    rid, other = (i["id"] for i in hc.items_to_check(work)[:2])
    assert hc.undo_last(work, "ana") is None  # nothing to undo
    hc.record_decision(work, "ana", rid, "accept")
    hc.record_decision(work, "ana", rid, "reject", "audio defect")
    hc.record_decision(work, "ben", other, "reject", "other")
    removed = hc.undo_last(work, "ana")
    assert removed["decision"] == "reject" and removed["record_id"] == rid
    assert hc.decisions(work)[rid][0]["decision"] == "accept"  # her earlier decision holds again
    assert hc.rejected_records(work) == {other: "other"}  # ben's file is untouched
    assert hc.undo_last(work, "ana")["decision"] == "accept"
    assert rid not in hc.decisions(work) and hc.undo_last(work, "ana") is None
    # a line torn by a crash mid-append is not a decision: undo removes the last whole one, reading skips it
    path = hc.rater_file(work, "ben")
    with open(path, "a") as f:
        f.write('{"record_id": "emo')
    assert hc.rejected_records(work) == {other: "other"}
    assert hc.undo_last(work, "ben")["record_id"] == other
    with open(path) as f:
        assert f.read() == ""


def test_two_raters_one_rejecting_is_rejected_with_the_first_raters_reason(copy, tmp_path):
    work = copy()
    rid = hc.items_to_check(work)[0]["id"]
    hc.record_decision(work, "ana", rid, "accept")
    hc.record_decision(work, "zoe", rid, "reject", "text implausible")
    assert hc.rejected_records(work) == {rid: "text implausible"}
    assert [d["rater"] for d in hc.decisions(work)[rid]] == ["ana", "zoe"]
    hc.record_decision(work, "ben", rid, "reject", "audio defect")
    assert hc.rejected_records(work) == {rid: "audio defect"}  # ben comes before zoe
    summary = run_export(work, ExportConfig(out=str(tmp_path / "out"), parquet=False))
    assert summary["dropped"] == {"rejected by a listener: audio defect": 2}
    assert summary["human_check"]["raters"] == ["ana", "ben", "zoe"] and summary["human_check"]["records_checked"] == 1


@pytest.mark.parametrize("mode", ["polytone", "sft"])
def test_every_row_of_a_rejected_record_is_dropped_in_polytone_and_sft_mode(copy, tmp_path, mode):
    work = copy(mode)
    rid, kept = (i["id"] for i in hc.items_to_check(work)[:2])
    hc.record_decision(work, "ana", rid, "reject", "style not recognisable")
    out = str(tmp_path / "out")
    summary = run_export(work, ExportConfig(out=out, parquet=False))
    rows = _metadata(out, "test") + _metadata(out, "train")
    assert {r["record_id"] for r in rows} == {kept}
    # polytone: 2 styles x 2 voices; sft: 2 queries + their 2 replies
    assert summary["dropped"] == {"rejected by a listener: style not recognisable": 4} and summary["out"] == 4
    assert summary["in"] == summary["out"] + 4


def test_bad_input_is_named(copy):
    work = copy()
    rid = hc.items_to_check(work)[0]["id"]
    for rater in ("", "ana smith", "../ana", "ana.jsonl", "x" * 65, None, "ånä"):
        with pytest.raises(ValueError, match="not a valid rater name"):
            hc.record_decision(work, rater, rid, "accept")
    with pytest.raises(ValueError, match="record_id='nope' is not a rendered record"):
        hc.record_decision(work, "ana", "nope", "accept")
    with pytest.raises(ValueError, match=r"decision='maybe'; expected one of \['accept', 'reject'\]"):
        hc.record_decision(work, "ana", rid, "maybe")
    with pytest.raises(ValueError, match="reason='too loud' for a reject; expected one of"):
        hc.record_decision(work, "ana", rid, "reject", "too loud")
    with pytest.raises(ValueError, match="reason='' for a reject"):
        hc.record_decision(work, "ana", rid, "reject")
    with pytest.raises(ValueError, match="a reason goes with a reject only"):
        hc.record_decision(work, "ana", rid, "accept", "audio defect")
    with pytest.raises(ValueError, match="is not a folder"):
        hc.items_to_check(os.path.join(work.path, "missing"))
    assert not os.path.exists(os.path.join(work.path, "human_check", "ana.jsonl"))  # nothing was written
    # a hand-edited line is named with its file and line, here and when export reads it
    hc.record_decision(work, "ana", rid, "accept")
    with open(hc.rater_file(work, "ana"), "a") as f:
        f.write(json.dumps({"record_id": rid, "decision": "reject", "reason": "meh", "comment": "", "rater": "ana",
                            "time": "2025-01-01T00:00:00+00:00"}) + "\n")
    with pytest.raises(ValueError, match=r"ana\.jsonl, line 2: reason='meh' for a reject"):
        hc.rejected_records(work)
    with pytest.raises(ValueError, match=r"ana\.jsonl, line 2"):
        run_export(work, ExportConfig(out=os.path.join(os.path.dirname(work.path), "out"), parquet=False))


def test_concurrent_decisions_and_undos_lose_no_line(copy):
    work = copy()
    ids = [i["id"] for i in hc.items_to_check(work)]

    def rate(k):
        for rid in ids:
            hc.record_decision(work, "ana", rid, "accept", comment=f"thread {k}")
        hc.undo_last(work, "ana")

    threads = [threading.Thread(target=rate, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(hc.rater_file(work, "ana")) as f:
        assert len([json.loads(line) for line in f]) == 6 * len(ids) - 6


def test_redoing_render_moves_the_decisions_aside(copy):
    work = copy()
    rid = hc.items_to_check(work)[0]["id"]
    hc.record_decision(work, "ana", rid, "reject", "audio defect")
    work.begin("verify", {"asr": "other"}, overwrite=True)  # verify does not change the audio: decisions stay
    assert hc.rejected_records(work) == {rid: "audio defect"}
    work.begin("render", {"renderer": "another"}, overwrite=True)  # new audio: the old decisions no longer apply
    assert hc.rejected_records(work) == {} and hc.decisions(work) == {}
    [aside] = [n for n in os.listdir(work.path) if n.startswith("human_check.superseded-")]
    assert "ana.jsonl" in os.listdir(os.path.join(work.path, aside))
