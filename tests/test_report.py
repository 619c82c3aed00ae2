"""The evaluation report: hand-computed means, averages, failures, bootstrap intervals, Markdown, files, leaderboard."""

import json
import os

import numpy as np
import pytest
import scipy.stats

from parass2s_hf.evaluation.leaderboard import compare_runs
from parass2s_hf.evaluation.records import SUBSETS, ItemRecord
from parass2s_hf.evaluation.report import LAYOUT, build_report, render_markdown, write_report

HEADER = "| system | age | emotion | gender | sarcasm | synth avg | IEMOCAP | MELD | real avg | overall |"
STYLE = {"age": "child", "emotion": "sad", "gender": "female", "sarcasm": "sarcastic", "iemocap": "angry",
         "meld": "happy"}


def rec(item, subset, score=None, status="ok", sample=0, expected=None, style=None, judge="J1"):
    dimension = "emotion" if subset in ("iemocap", "meld") else subset
    return ItemRecord(id=item, sample=sample, system_fingerprint="S1", judge_fingerprint=judge, subset=subset,
                      dimension=dimension, style=style or STYLE[subset], status=status, score=score,
                      score_expected=expected)


def subset_records(subset, scores, judge="J1"):
    return [rec(f"{subset}-{i:03d}", subset, s, judge=judge) for i, s in enumerate(scores)]


SCORES = {"age": [1, 2, 3], "emotion": [4, 4, 5], "gender": [2, 2, 3, 5], "sarcasm": [3, 3, 1],
          "iemocap": [5, 4, 4, 3], "meld": [2, 3]}


def all_six(judge="J1", shift=0):
    return [r for s, scores in SCORES.items() for r in subset_records(s, [min(x + shift, 5) for x in scores], judge)]


def col(report, key, metric="score"):
    return report[metric]["columns"][key]


def test_means_and_averages_by_hand():
    report = build_report(all_six())
    means = {s: np.mean(v) for s, v in SCORES.items()}
    for s in SUBSETS:
        assert col(report, s)["mean"] == pytest.approx(round(means[s], 4))
        assert col(report, s)["n"] == len(SCORES[s])
    synth = np.mean([means[s] for s in ("age", "emotion", "gender", "sarcasm")])
    real = np.mean([means["iemocap"], means["meld"]])
    assert col(report, "synthetic_average")["mean"] == pytest.approx(round(synth, 4))
    assert col(report, "real_average")["mean"] == pytest.approx(round(real, 4))
    # the paper's overall: mean of the six subset means (not of the two averages, not over items)
    assert col(report, "overall")["mean"] == pytest.approx(round(np.mean(list(means.values())), 4))
    assert report["layout"] == list(LAYOUT)
    assert report["score_expected"] is None
    assert report["score"]["absent"] == []


def test_overall_only_with_all_six_subsets():
    records = [r for r in all_six() if r.subset != "meld"]
    report = build_report(records)
    assert col(report, "overall")["mean"] is None and col(report, "real_average")["mean"] is None
    assert col(report, "synthetic_average")["mean"] is not None
    assert col(report, "iemocap")["mean"] == pytest.approx(4.0)
    assert report["score"]["absent"] == ["meld"]
    assert any("meld" in note for note in report["notes"])
    only_real = build_report([r for r in all_six() if r.subset in ("iemocap", "meld")])
    assert col(only_real, "synthetic_average")["mean"] is None and col(only_real, "overall")["mean"] is None
    assert col(only_real, "real_average")["mean"] == pytest.approx(3.25)


def test_samples_are_averaged_per_item_first():
    # item a: samples 1 and 5 -> 3; item b: one sample 5 -> 5. Per item: (3 + 5) / 2 = 4 (pooled would be 11/3).
    records = [rec("a", "age", 1, sample=0), rec("a", "age", 5, sample=1), rec("b", "age", 5, sample=0),
               rec("b", "age", None, status="missing", sample=1)]
    report = build_report(records, num_samples=2, planned=4)
    assert col(report, "age")["mean"] == 4.0 and col(report, "age")["n"] == 2
    counts = report["counts"]["total"]
    assert counts["records"] == 4 and counts["items"] == 2 and counts["items_scored"] == 2
    assert counts["status"]["missing"] == 1 and counts["planned"] == 4
    assert counts["items_incomplete"] == 0


def test_failures_excluded_but_counted_and_empty_response_scores_one():
    records = [rec("a", "emotion", 5), rec("b", "emotion", 3),
               rec("c", "emotion", 1, status="empty_response", expected=1.0),
               rec("d", "emotion", None, status="missing"), rec("e", "emotion", None, status="system_error"),
               rec("f", "emotion", None, status="invalid_input")]
    report = build_report(records, skipped=["g", "h"])
    assert col(report, "emotion")["mean"] == 3.0 and col(report, "emotion")["n"] == 3
    emotion = report["counts"]["per_subset"]["emotion"]
    assert emotion["status"] == {"ok": 2, "empty_response": 1, "missing": 1, "invalid_input": 1, "system_error": 1}
    assert emotion["items"] == 6 and emotion["items_scored"] == 3 and emotion["items_missing"] == 3
    assert report["score"]["items_missing"] == 3
    assert report["skipped"] == {"count": 2, "ids": ["g", "h"]}
    assert report["counts"]["total"]["skipped"] == 2
    # score_expected only where a record has it: the empty response's 1.0
    assert col(report, "emotion", "score_expected") == {"mean": 1.0, "ci": None, "n": 1}
    md = render_markdown(report)
    assert "empty responses" in md and "system errors" in md and "invalid inputs" in md and "missing scores" in md
    assert "Skipped (not evaluated): 2 ids: g, h." in md


def test_interval_contains_mean_and_is_reproducible():
    rng = np.random.default_rng(1)
    records = [rec(f"x{i}", "sarcasm", int(s), expected=float(s) - 0.25) for i, s in enumerate(rng.integers(1, 6, 40))]
    a, b = build_report(records, seed=3), build_report(list(reversed(records)), seed=3)
    assert json.dumps(a) == json.dumps(b)
    cell = col(a, "sarcasm")
    assert cell["ci"][0] < cell["mean"] < cell["ci"][1]
    assert col(a, "sarcasm", "score_expected")["mean"] == pytest.approx(cell["mean"] - 0.25)
    assert build_report(records, seed=4)["score"]["columns"]["sarcasm"]["ci"] != cell["ci"]


def test_percentile_interval_matches_scipy():
    scores = [1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 5, 1, 2]
    report = build_report(subset_records("gender", scores), n_resamples=999, seed=7)
    direct = scipy.stats.bootstrap((np.asarray(scores, float),), np.mean, n_resamples=999, method="percentile",
                                   confidence_level=0.95, random_state=7)
    ci = direct.confidence_interval
    assert col(report, "gender")["ci"] == [round(ci.low, 4), round(ci.high, 4)]
    # an average's interval: both subsets resampled independently, statistic = mean of the two means
    report = build_report(subset_records("iemocap", scores) + subset_records("meld", scores[:7]), n_resamples=999,
                          seed=7)
    direct = scipy.stats.bootstrap((np.asarray(scores, float), np.asarray(scores[:7], float)),
                                   lambda x, y, axis: (x.mean(axis=axis) + y.mean(axis=axis)) / 2, n_resamples=999,
                                   method="percentile", paired=False, random_state=7)
    ci = direct.confidence_interval
    assert col(report, "real_average")["ci"] == [round(ci.low, 4), round(ci.high, 4)]


def test_degenerate_data_does_not_crash():
    one = build_report([rec("a", "age", 4)])
    assert col(one, "age") == {"mean": 4.0, "ci": None, "n": 1}
    constant = build_report(subset_records("age", [3, 3, 3]), method="BCa")
    assert col(constant, "age") == {"mean": 3.0, "ci": [3.0, 3.0], "n": 3, "constant": True}
    constant_six = build_report([r for s in SUBSETS for r in subset_records(s, [2, 2])])
    assert col(constant_six, "overall") == {"mean": 2.0, "ci": [2.0, 2.0], "n": 12, "constant": True,
                                            "subsets": list(SUBSETS)}
    lone_meld = build_report(subset_records("iemocap", [2, 4]) + subset_records("meld", [3]))
    assert col(lone_meld, "real_average")["mean"] == 3.0 and col(lone_meld, "real_average")["ci"] is None
    bca = build_report(subset_records("meld", [1, 2, 2, 3, 5, 4, 4]), method="BCa")
    assert bca["score"]["columns"]["meld"]["ci"] is not None
    empty = build_report([])
    assert empty["score"] is None and empty["counts"]["total"]["records"] == 0
    assert "# ParaS2SBench evaluation" in render_markdown(empty)
    all_missing = build_report([rec("a", "age", None, status="missing")])
    assert all_missing["score"] is None and all_missing["counts"]["total"]["items_missing"] == 1


def test_bad_input_raises():
    with pytest.raises(ValueError, match="subset"):
        build_report([ItemRecord("a", 0, "S1", "J1", "nope", "age", "child", "ok", score=3)])
    with pytest.raises(ValueError, match="status"):
        build_report([rec("a", "age", 3, status="done")])
    with pytest.raises(ValueError, match="judge_fingerprint"):
        build_report([rec("a", "age", 3), rec("b", "age", 3, judge="J2")])
    with pytest.raises(ValueError, match="method"):
        build_report([rec("a", "age", 3)], method="basic")


def test_markdown_table_and_absent_subsets():
    records = [r for r in all_six() if r.subset not in ("iemocap",)]
    manifest = {"label": "my-system", "system": {"name": "cascade", "fingerprint": "sysfp", "config": {"tts": "x"}},
                "judge": {"fingerprint": "judgefp"}, "dataset": {"config": "all", "split": "test"},
                "num_samples": 1, "seed": 0, "packages": {"numpy": "2"}}
    md = render_markdown(build_report(records), manifest)
    lines = md.splitlines()
    assert HEADER in lines
    row = next(line for line in lines if line.startswith("| my-system |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "my-system" and cells[1].startswith("2.000 [") and cells[1].endswith("]")
    assert cells[6] == "—" and cells[8] == "—" and cells[9] == "—" and cells[7].startswith("2.500")
    assert "iemocap" in md and "overall not given" in md
    assert "## By query style" in md and "| age | child | 3 |" in md
    assert "## Run" in md and "judgefp" in md and "numpy 2" in md
    assert "expected score: no record has one" in md


def test_write_report_files(tmp_path):
    report = build_report(all_six())
    paths = write_report(report, tmp_path / "run", {"system": {"name": "demo"}})
    assert set(paths) == {"json", "markdown", "figure"}
    with open(paths["json"]) as f:
        assert json.load(f) == report
    with open(paths["markdown"]) as f:
        assert f.read().startswith("# ParaS2SBench evaluation: demo")
    with open(paths["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(paths["figure"]) > 1000


def _write_run(folder, records, label=None, judge="J1"):
    manifest = {"system": {"name": f"sys-{folder.name}"}, "judge": {"fingerprint": judge}}
    if label:
        manifest["label"] = label
    os.makedirs(folder)
    with open(folder / "manifest.json", "w") as f:
        json.dump(manifest, f)
    write_report(build_report(records), folder, manifest)
    return folder


def test_compare_runs_sorts_and_flags_judges(tmp_path):
    low = _write_run(tmp_path / "low", all_six())
    high = _write_run(tmp_path / "high", all_six(shift=1), label="better")
    board = compare_runs([low, high], tmp_path / "board")
    assert [r["label"] for r in board["rows"]] == ["better", "low"]
    assert board["sorted_by"] == "overall" and board["comparable"]
    assert "NOT COMPARABLE" not in board["markdown"]
    assert HEADER.replace("| system |", "| rank | system |").rstrip(" |") in board["markdown"]
    for name in ("json", "markdown", "figure"):
        assert os.path.getsize(board["paths"][name]) > 0
    other = _write_run(tmp_path / "other", all_six(judge="J2", shift=-1), judge="J2")
    board = compare_runs([low, other, high])
    assert not board["comparable"] and "NOT COMPARABLE" in board["markdown"]
    assert [r["label"] for r in board["rows"]] == ["better", "low", "other"]
    assert board["paths"] == {}
    partial = _write_run(tmp_path / "partial", [r for r in all_six(shift=2) if r.subset != "meld"])
    board = compare_runs([low, partial])
    assert board["sorted_by"] == "synth avg" and board["rows"][0]["label"] == "partial"


def test_compare_runs_missing_report(tmp_path):
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(ValueError, match="empty-run"):
        compare_runs([tmp_path / "empty-run"])
