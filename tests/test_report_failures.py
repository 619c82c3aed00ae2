"""The report's failures section, constant-score cells, the `score_expected` explanation, and `parass2s report`
(rebuilding a run folder's report from its records, with the runner's numbers)."""

import json
import os

import pytest
from test_evaluation import ScriptedJudge, ScriptedSystem, run
from test_report import HEADER, rec, subset_records

from parass2s_hf import cli
from parass2s_hf.evaluation.records import SUBSETS
from parass2s_hf.evaluation.report import build_report, render_markdown

FAILING = [
    # one cause, three records: the ids and numbers in the reasons must not split it
    rec("age-001", "age", status="system_error"), rec("age-002", "age", status="system_error"),
    rec("age-003", "age", status="system_error"),
    rec("age-004", "age", status="system_error"),
    rec("emotion-001", "emotion", status="missing"), rec("emotion-002", "emotion", status="missing"),
    rec("emotion-003", "emotion", status="missing"),
    rec("gender-001", "gender", status="invalid_input"),
    rec("sarcasm-001", "sarcasm", 1, status="empty_response"), rec("sarcasm-002", "sarcasm", 1, status="empty_response"),
    rec("sarcasm-003", "sarcasm", 1, status="empty_response"),
    rec("age-010", "age", 4), rec("age-011", "age", 2),
]
REASONS = {
    "age-001": "RuntimeError: boom on age-001", "age-002": "RuntimeError: boom on age-002",
    "age-003": "RuntimeError: boom on age-003", "age-004": "model refused",
    "emotion-001": "no score after 3 attempt(s): no digit in 'I think so'",
    "emotion-002": "no score after 3 attempt(s): no digit in 'Maybe.'",
    "emotion-003": "endpoint error: HTTP 503 from http://localhost:8000/v1",
    "gender-001": "pair 0: query_audio /data/x/gender-001.wav: cannot decode",
    "sarcasm-001": "silent audio (peak below -60 dBFS)", "sarcasm-002": "silent audio (peak below -60 dBFS)",
    "sarcasm-003": "0.12 s of sound in 0.50 s, under min_response_seconds=0.3",
}


def failing_records():
    records = [rec(r.id, r.subset, r.score, status=r.status, expected=r.score_expected) for r in FAILING]
    for r in records:
        r.reason = REASONS.get(r.id, "")
    return records


def test_failures_grouped_by_status_with_counts_and_example_ids():
    report = build_report(failing_records())
    failures = report["failures"]
    assert list(failures) == ["system_error", "missing", "invalid_input", "empty_response"]
    errors = failures["system_error"]
    assert errors["count"] == 4 and errors["more_reasons"] == 0
    assert [(g["count"], g["ids"]) for g in errors["reasons"]] == [(3, ["age-001", "age-002", "age-003"]),
                                                                   (1, ["age-004"])]
    assert errors["reasons"][0]["reason"] == "RuntimeError: boom on age-001"  # one real reason, not the mask
    missing = failures["missing"]["reasons"]  # the judge's missing-score reasons: quoted answers masked
    assert [(g["count"], g["ids"]) for g in missing] == [(2, ["emotion-001", "emotion-002"]), (1, ["emotion-003"])]
    assert "HTTP 503" in missing[1]["reason"]
    assert failures["invalid_input"]["reasons"][0]["ids"] == ["gender-001"]
    assert [g["count"] for g in failures["empty_response"]["reasons"]] == [2, 1]
    # deterministic: the records' order does not matter
    assert json.dumps(build_report(list(reversed(failing_records())))) == json.dumps(report)

    md = render_markdown(report)
    assert "## Failures" in md
    section = md[md.index("## Failures"):]
    assert "| `system_error` | 3 | RuntimeError: boom on age-001 | age-001, age-002, age-003 |" in section
    assert "no digit in 'I think so'" in section and "emotion-001, emotion-002" in section
    assert "HTTP 503" in section and "gender-001" in section and "silent audio" in section


def test_failures_keep_the_top_five_and_say_how_many_more():
    records = [rec(f"meld-{i:03d}", "meld", status="system_error") for i in range(9)]
    for i, r in enumerate(records):
        r.reason = f"{chr(ord('A') + i)}Error: broken" if i < 7 else "AError: broken"  # A: 3 records, B..G: 1 each
    failures = build_report(records)["failures"]["system_error"]
    assert failures["count"] == 9 and len(failures["reasons"]) == 5
    assert failures["reasons"][0] == {"reason": "AError: broken", "pattern": "AError: broken", "count": 3, "items": 3,
                                      "ids": ["meld-000", "meld-007", "meld-008"]}
    assert failures["more_reasons"] == 2 and failures["more_count"] == 2
    md = render_markdown(build_report(records))
    assert "2 more reasons (2 records)" in md


def test_run_with_failures_shows_reasons_in_report_files(tmp_path, sample_test):
    ids = sample_test["id"]
    behaviour = {ids[0]: "raise", ids[1]: "error", ids[2]: "empty", ids[3]: "silent", ids[5]: "nan"}
    run(tmp_path, sample_test, system=ScriptedSystem(behaviour), judge=ScriptedJudge(missing={ids[6], ids[7]}))
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    missing = report["failures"]["missing"]
    assert missing["count"] == 2 and missing["reasons"][0]["reason"] == "no score in the answer"
    assert missing["reasons"][0]["ids"] == sorted([ids[6], ids[7]])
    errors = {g["reason"]: g for g in report["failures"]["system_error"]["reasons"]}
    assert errors[f"RuntimeError: boom on {ids[0]}"]["ids"] == [ids[0]] and "model refused" in errors
    assert report["failures"]["empty_response"]["count"] == 2
    md = (tmp_path / "run" / "report.md").read_text()
    section = md[md.index("## Failures"):]
    assert f"boom on {ids[0]}" in section and "model refused" in section and "no score in the answer" in section
    assert ids[6] in section and "silent audio" in section


def test_constant_scores_are_marked_not_shown_as_a_zero_width_interval():
    report = build_report([r for s in SUBSETS for r in subset_records(s, [3, 3, 3])], method="BCa")
    cell = report["score"]["columns"]["age"]
    assert cell["constant"] is True and cell["mean"] == 3.0 and cell["ci"] == [3.0, 3.0]
    assert report["score"]["columns"]["overall"]["constant"] is True
    md = render_markdown(report)
    assert "3.000 [3.000, 3.000]" not in md
    row = next(line for line in md.splitlines() if line.startswith("| system |") and "3.000" in line)
    assert row.count("3.000 (constant)") == 9
    assert "every item had the same score" in md and "no width" in md
    varied = build_report(subset_records("age", [1, 3, 5]))
    assert "constant" not in varied["score"]["columns"]["age"]
    assert "(constant)" not in render_markdown(varied) and "no width" not in render_markdown(varied)


def test_expected_score_is_explained_where_it_is_shown():
    with_expected = render_markdown(build_report([rec(f"a{i}", "age", 3 + i % 2, expected=3.2 + i % 2)
                                                  for i in range(4)]))
    assert "expected value" in with_expected and "token probabilities" in with_expected
    without = render_markdown(build_report([rec(f"a{i}", "age", 3 + i % 2) for i in range(4)]))
    assert "token probabilities" not in without


class SkippingSystem(ScriptedSystem):
    """A system without responses for some ids (as precomputed responses can be): the runner lists them skipped."""

    def __init__(self, gone, **kwargs):
        super().__init__(**kwargs)
        self.gone = set(gone)

    def missing(self, keys):
        return [k for k in keys if k[0] in self.gone]


def _report_files(folder):
    return {name: (folder / name).read_bytes() for name in ("report.json", "report.md")}


def test_report_command_rebuilds_the_runners_report(tmp_path, sample_test, capsys):
    ids = sample_test["id"]
    system = SkippingSystem({ids[10], ids[11]}, behaviour={ids[0]: "raise", ids[2]: "empty"})
    run(tmp_path, sample_test, system=system, judge=ScriptedJudge(missing={ids[6]}), allow_missing=True, seed=5,
        confidence=0.9, label="mine")
    other = tmp_path / "other"
    run(tmp_path, sample_test, name="other", num_samples=2, dimensions=["age", "gender"])
    out = tmp_path / "run"
    written = {folder: _report_files(folder) for folder in (out, other)}
    for folder in (out, other):
        for name in ("report.md", "report.png"):
            os.remove(folder / name)
    capsys.readouterr()
    assert cli.main(["report", str(out), str(other)]) == 0
    printed = capsys.readouterr().out
    for folder in (out, other):
        assert _report_files(folder) == written[folder]  # the same numbers, byte for byte
        assert (folder / "report.png").exists()
        assert str(folder / "report.json") in printed and str(folder / "report.png") in printed
    assert HEADER in printed and "| mine |" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["skipped"]["ids"] == sorted([ids[10], ids[11]]) and report["bootstrap"]["confidence"] == 0.9
    assert report["bootstrap"]["seed"] == 5 and report["bootstrap"]["n_resamples"] == 200


def test_report_command_without_the_previous_report_says_what_it_cannot_know(tmp_path, sample_test, capsys):
    ids = sample_test["id"]
    run(tmp_path, sample_test, system=SkippingSystem({ids[3]}), allow_missing=True)
    out = tmp_path / "run"
    before = json.loads((out / "report.json").read_text())
    os.remove(out / "report.json")
    assert cli.main(["report", str(out)]) == 0
    after = json.loads((out / "report.json").read_text())
    assert after["score"] == before["score"] and after["counts"]["total"]["planned"] == 48
    assert after["skipped"]["count"] == 0 and any("1 planned" in note for note in after["notes"])
    assert "1 planned" in capsys.readouterr().err


def test_report_command_says_when_the_folder_holds_more_than_the_run_selected(tmp_path, sample_test, capsys):
    run(tmp_path, sample_test, dimensions=["age"], limit=3)
    _, runners = run(tmp_path, sample_test, dimensions=["age"], limit=2)  # the same folder, fewer rows
    assert runners["score"]["columns"]["age"]["n"] == 2
    assert cli.main(["report", str(tmp_path / "run")]) == 0
    rebuilt = json.loads((tmp_path / "run" / "report.json").read_text())
    assert rebuilt["score"]["columns"]["age"]["n"] == 3  # which 2 of the 3 the run took is not kept: all count
    assert any("records of 3 ids" in note and "2 rows" in note for note in rebuilt["notes"])
    assert "records of 3 ids" in capsys.readouterr().err


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("parass2s report: error: "), err
    for needle in needles:
        assert needle in err[0]


def test_report_command_errors_in_one_line(tmp_path, sample_test, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["report", str(empty)]) == 2
    _one_error_line(capsys, "not a run folder", "run.json")
    assert not os.listdir(empty)  # nothing written (no lock file, no report)
    assert cli.main(["report", str(tmp_path / "nowhere")]) == 2
    _one_error_line(capsys, "nowhere")
    run(tmp_path, sample_test, dimensions=["age"])
    out = tmp_path / "run"
    manifest = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(manifest[:40])
    capsys.readouterr()  # the run's progress bars
    assert cli.main(["report", str(out)]) == 2
    _one_error_line(capsys, "manifest.json")
    (out / "manifest.json").write_text(manifest)
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:2]) + "{not json\n" + "".join(lines[2:]))
    assert cli.main(["report", str(out)]) == 2
    _one_error_line(capsys, "results.jsonl", "line 3")


def test_top_level_help_lists_report():
    assert "report" in cli.build_parser().format_help()
    with pytest.raises(SystemExit):
        cli.main(["report", "--help"])
