"""The pairwise leaderboard (`parass2s compare --pairwise`): Bradley-Terry strengths from `versus` folders written here
by a scripted judge with a known preference; ties, stale lines, judges, labels, connectivity, files, the CLI."""

import json
import math
import os

import numpy as np
import pytest
from test_pairwise import LengthRubric
from test_report import _write_run, all_six
from test_versus import SecondsSystem, make_run, versus

from parass2s_hf import cli
from parass2s_hf.evaluation.pairwise_board import ELO_SCALE, fit_bradley_terry, pairwise_leaderboard


def write_versus(folder, a, b, preferences, judge="J1", run_dirs=(None, None), extra=()):
    """A versus folder as `parass2s versus` writes it. `a`, `b`: (label, fingerprint); `preferences`: one per query,
    `"a"`, `"b"`, `"tie"` or `None` (not judged: status missing); `extra`: more lines, appended as given."""
    systems = {side: {"label": label, "run_dir": run_dir, "system": "precomputed", "system_fingerprint": fp}
               for side, (label, fp), run_dir in zip("ab", (a, b), run_dirs)}
    os.makedirs(folder)
    with open(os.path.join(folder, "versus.json"), "w") as f:
        json.dump({"format": "parass2s-versus", "version": 1, "systems": systems, "judge_fingerprint": judge,
                   "judge_mode": "multi_stage", "counts": {}, "overall": {}, "subsets": {}}, f)
    records = [line(i, preference, a[1], b[1], judge) for i, preference in enumerate(preferences)]
    with open(os.path.join(folder, "versus.jsonl"), "w") as f:
        f.writelines(json.dumps(record) + "\n" for record in [*records, *extra])
    return folder


def line(i, preference, fa, fb, judge="J1"):
    return {"id": f"age-{i:03d}", "sample": 0, "subset": "age", "dimension": "age", "style": "child",
            "status": "ok" if preference else "missing", "preference": preference,
            "position_consistent": None if preference is None else preference != "tie", "reason": "",
            "judge_fingerprint": judge, "system_fingerprints": {"a": fa, "b": fb}}


def scripted(n, share_a, ties=0):
    """A scripted judge: of `n` queries, `round(n * share_a)` preferred a, `ties` ties, the rest b (interleaved)."""
    wins_a = round(n * share_a)
    out = ["a"] * wins_a + ["tie"] * ties + ["b"] * (n - wins_a - ties)
    return [out[i] for i in np.random.default_rng(0).permutation(n)]


A, B, C, D = ("A", "fa"), ("B", "fb"), ("C", "fc"), ("D", "fd")


def three_systems(tmp_path, judge_ac="J1"):
    return [write_versus(tmp_path / "ab", A, B, scripted(100, 0.8)),
            write_versus(tmp_path / "bc", B, C, scripted(100, 0.8)),
            write_versus(tmp_path / "ca", C, A, scripted(100, 0.1), judge=judge_ac)]


def test_known_preferences_give_the_win_rates_and_the_bradley_terry_order(tmp_path):
    board = pairwise_leaderboard(three_systems(tmp_path), n_resamples=300)
    rows = board["rows"]
    assert [r["label"] for r in rows] == ["A", "B", "C"]
    assert rows[0]["rating"] > rows[1]["rating"] > rows[2]["rating"]
    assert np.mean([r["rating"] for r in rows]) == pytest.approx(1000, abs=0.2)  # centred
    assert [(r["wins"], r["ties"], r["losses"]) for r in rows] == [(170, 0, 30), (100, 0, 100), (30, 0, 170)]
    observed = {(p["first"], p["second"]): p["first_win_rate"] for p in board["pairs"]}
    assert observed == {("A", "B"): 0.8, ("A", "C"): 0.9, ("B", "C"): 0.8}
    fitted = {(p["first"], p["second"]): p["fitted"] for p in board["pairs"]}
    assert fitted[("A", "B")] == pytest.approx(0.8, abs=0.03) and fitted[("A", "C")] == pytest.approx(0.9, abs=0.05)
    for r in rows:  # the rating scale: 1000 + 400/ln 10 * theta; P(win vs average) = sigmoid(theta)
        assert r["rating"] == pytest.approx(1000 + ELO_SCALE * r["theta"], abs=0.1)
        assert r["p_win_vs_average"] == pytest.approx(1 / (1 + math.exp(-r["theta"])), abs=1e-3)
        low, high = r["ci"]
        assert low < r["rating"] < high
    assert board["comparable"] and board["connected"] and board["components"] == [["A", "B", "C"]]
    assert "NOT COMPARABLE" not in board["markdown"]
    assert "| 1 | A |" in board["markdown"] and "| 3 | C |" in board["markdown"]


def test_a_random_scripted_judge_recovers_known_strengths_within_the_intervals(tmp_path):
    theta = {"A": 0.8, "B": 0.0, "C": -0.8}
    rng = np.random.default_rng(7)
    folders = []
    for x, y in ((A, B), (B, C), (A, C)):
        p = 1 / (1 + math.exp(theta[y[0]] - theta[x[0]]))
        folders.append(write_versus(tmp_path / f"{x[0]}{y[0]}", x, y,
                                    ["a" if u < p else "b" for u in rng.random(400)]))
    board = pairwise_leaderboard(folders, n_resamples=500, seed=1)
    assert [r["label"] for r in board["rows"]] == ["A", "B", "C"]
    for r in board["rows"]:
        truth = 1000 + ELO_SCALE * theta[r["label"]]
        assert r["ci"][0] <= truth <= r["ci"][1], (r, truth)


@pytest.mark.slow  # about 7 s: three evaluation runs and three versus runs (.ci/run runs it)
def test_real_versus_folders_of_a_length_judge_give_its_win_rates_and_order(tmp_path, sample_test):
    """End to end through `parass2s versus`: a judge that prefers the longer reply, three runs whose lengths make each
    pair 36:12 (a win rate of 0.75), so A > B > C; the board reads the folders exactly as versus wrote them."""
    ids = sample_test["id"]
    runs = {"A": make_run(tmp_path, sample_test, "A", SecondsSystem(1.5, per_id={i: 0.5 for i in ids[36:]})),
            "B": make_run(tmp_path, sample_test, "B", SecondsSystem(1.0)),
            "C": make_run(tmp_path, sample_test, "C", SecondsSystem(0.8, per_id={i: 1.2 for i in ids[:12]}))}
    folders = []
    for x, y in (("A", "B"), ("B", "C"), ("C", "A")):
        versus(tmp_path, (runs[x], runs[y]), LengthRubric([]), sample_test, name=f"vs-{x}{y}").run()
        folders.append(tmp_path / f"vs-{x}{y}")
    board = pairwise_leaderboard(folders, tmp_path / "board", n_resamples=200)
    assert [r["label"] for r in board["rows"]] == ["A", "B", "C"]
    assert {(p["first"], p["second"]): (p["first_wins"], p["second_wins"], p["first_win_rate"])
            for p in board["pairs"]} == {("A", "B"): (36, 12, 0.75), ("A", "C"): (36, 12, 0.75),
                                         ("B", "C"): (36, 12, 0.75)}
    assert board["comparable"] and board["connected"] and board["notes"] == [], board["notes"]
    assert sorted(r["label"] for r in board["absolute"]["rows"]) == ["A", "B", "C"]  # each run's report.json, beside it
    assert all(r["ci"][0] < r["rating"] < r["ci"][1] for r in board["rows"])


def test_a_tie_counts_half_a_win_each_way(tmp_path):
    with_ties = write_versus(tmp_path / "ties", A, B, ["a"] * 6 + ["b"] * 2 + ["tie"] * 4)
    board = pairwise_leaderboard([with_ties], n_resamples=0, alpha=1e-6)
    assert board["pairs"][0]["first_win_rate"] == pytest.approx(8 / 12, abs=1e-4)
    assert board["pairs"][0]["fitted"] == pytest.approx(8 / 12, abs=1e-3)  # two systems: BT = the share of wins
    assert [(r["wins"], r["ties"], r["losses"]) for r in board["rows"]] == [(6, 4, 2), (2, 4, 6)]
    halves = write_versus(tmp_path / "halves", A, B, ["a"] * 8 + ["b"] * 4)  # 6 + 4/2 wins, 2 + 4/2 losses
    same = pairwise_leaderboard([halves], n_resamples=0, alpha=1e-6)
    assert same["rows"][0]["theta"] == pytest.approx(board["rows"][0]["theta"], abs=1e-3)
    only_ties = pairwise_leaderboard([write_versus(tmp_path / "draw", A, B, ["tie"] * 10)], n_resamples=0)
    assert [r["rating"] for r in only_ties["rows"]] == [1000.0, 1000.0]
    assert "no interval (n_resamples=0)" in only_ties["markdown"]
    assert all(r["ci"] is None for r in only_ties["rows"])


def test_a_folder_that_is_not_a_versus_output_is_named(tmp_path, capsys):
    good = write_versus(tmp_path / "ab", A, B, ["a", "b"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"'[^']*empty' is not a `parass2s versus` output: it has no versus\.json"):
        pairwise_leaderboard([good, empty])
    run = _write_run(tmp_path / "run", all_six())
    with pytest.raises(ValueError, match="evaluation run folder: compare run folders without --pairwise"):
        pairwise_leaderboard([good, run])
    other = tmp_path / "other"
    other.mkdir()
    (other / "versus.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="format 'something-else'"):
        pairwise_leaderboard([other])
    with pytest.raises(ValueError, match="nothing to rank"):
        pairwise_leaderboard([write_versus(tmp_path / "self", A, A, ["tie"])])
    assert cli.main(["compare", "--pairwise", str(good), str(empty), "--output", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("parass2s compare: error:") and str(empty) in err and "Traceback" not in err
    assert cli.main(["compare", str(good)]) == 2  # a versus folder without --pairwise: say so
    assert "use `parass2s compare --pairwise`" in capsys.readouterr().err


def test_different_judges_are_not_comparable(tmp_path):
    board = pairwise_leaderboard(three_systems(tmp_path, judge_ac="J2"), n_resamples=0)
    assert not board["comparable"] and board["judge_fingerprints"] == ["J1", "J2"]
    assert "WARNING: NOT COMPARABLE" in board["markdown"] and "J1, J2" in board["markdown"]
    assert [r["label"] for r in board["rows"]] == ["A", "B", "C"]  # still fitted, with the warning


def test_the_last_line_of_a_comparison_wins_and_stale_lines_are_left_out(tmp_path):
    redo = [line(0, "b", "fa", "fb"), line(1, "b", "fa", "fb")]  # a resumed run judged queries 0 and 1 again
    stale = [line(2, "b", "fa", "fb", judge="J0"), {**line(3, "b", "fa", "fb"), "system_fingerprints": {"a": "old",
                                                                                                      "b": "fb"}}]
    folder = write_versus(tmp_path / "ab", A, B, ["a"] * 6 + [None], extra=redo + stale)
    with open(folder / "versus.jsonl", "a") as f:
        f.write('{"id": "age-009", "sam')  # torn by an interrupt
    board = pairwise_leaderboard([folder], n_resamples=0)
    assert board["pairs"][0]["first_wins"] == 4 and board["pairs"][0]["second_wins"] == 2
    summary = board["folders"][0]
    assert summary["ignored_lines"] == {"other_judge": 1, "other_systems": 1, "damaged": 1}
    assert summary["status"] == {"missing": 1, "ok": 6} and summary["queries"] == 6
    assert any("another judge configuration" in note for note in board["notes"])


def test_labels_that_clash_are_told_apart_by_run_folder(tmp_path):
    folders = [write_versus(tmp_path / "v1", ("cascade", "f1"), ("cascade", "f2"), ["a"] * 3 + ["b"],
                            run_dirs=("runs/cascade-small", "runs/cascade-large")),
               write_versus(tmp_path / "v2", ("cascade", "f1"), ("omni", "f3"), ["b"] * 3 + ["a"],
                            run_dirs=("runs/cascade-small", "runs/omni"))]
    board = pairwise_leaderboard(folders, n_resamples=0)
    assert {r["label"] for r in board["rows"]} == {"cascade-small", "cascade-large", "omni"}
    assert len(board["rows"]) == 3  # f1 met twice: one system
    assert next(r for r in board["rows"] if r["label"] == "cascade-small")["comparisons"] == 8


def test_disconnected_and_undefeated_systems_are_finite_and_named(tmp_path):
    folders = [write_versus(tmp_path / "ab", A, B, ["a"] * 10), write_versus(tmp_path / "cd", C, D, ["a", "b"] * 5)]
    board = pairwise_leaderboard(folders, n_resamples=50)
    assert not board["connected"]
    assert sorted(map(sorted, board["components"])) == [["A", "B"], ["C", "D"]]
    assert all(math.isfinite(r["rating"]) for r in board["rows"])
    assert board["rows"][0]["label"] == "A" and board["rows"][-1]["label"] == "B"
    notes = " ".join(board["notes"])
    assert "Not connected by comparisons" in notes and "{A} | {B}" in notes and "regularisation" in notes
    assert "| group |" in board["markdown"]


def test_the_bootstrap_is_reproducible_with_its_seed(tmp_path):
    folders = three_systems(tmp_path)
    first = pairwise_leaderboard(folders, n_resamples=200, seed=3)
    again = pairwise_leaderboard(folders, n_resamples=200, seed=3)
    other = pairwise_leaderboard(folders, n_resamples=200, seed=4)
    assert [r["ci"] for r in first["rows"]] == [r["ci"] for r in again["rows"]]
    assert first["markdown"] == again["markdown"]
    assert [r["ci"] for r in first["rows"]] != [r["ci"] for r in other["rows"]]
    assert [r["rating"] for r in first["rows"]] == [r["rating"] for r in other["rows"]]  # the fit does not resample


def test_fit_bradley_terry_is_choix_centred():
    theta = fit_bradley_terry(np.array([[0, 8.0], [2, 0]]), alpha=1e-9)
    assert theta.sum() == pytest.approx(0, abs=1e-9)
    assert theta[0] - theta[1] == pytest.approx(math.log(4), abs=1e-4)  # 8:2 wins, odds 4


def test_the_cli_writes_the_three_files_and_the_absolute_table(tmp_path, capsys):
    runs = {name: _write_run(tmp_path / "runs" / name, all_six(shift=shift), label=name)
            for name, shift in (("A", 1), ("B", 0))}
    folder = write_versus(tmp_path / "vs" / "ab", A, B, scripted(20, 0.7, ties=2),
                          run_dirs=(str(runs["A"]), str(runs["B"])))
    out = tmp_path / "board"
    assert cli.main(["compare", "--pairwise", str(folder), "--output", str(out), "--n_resamples", "50",
                     "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    for name in ("pairwise_leaderboard.md", "pairwise_leaderboard.json", "pairwise_leaderboard.png"):
        assert os.path.getsize(out / name) > 0, name
    document = json.loads((out / "pairwise_leaderboard.json").read_text())
    assert document["format"] == "parass2s-pairwise-leaderboard"
    assert [r["label"] for r in document["rows"]] == ["A", "B"]
    assert document["bootstrap"]["n_resamples"] == 50 and document["bootstrap"]["seed"] == 2
    assert [r["label"] for r in document["absolute"]["rows"]] == ["A", "B"]
    markdown = (out / "pairwise_leaderboard.md").read_text()
    assert markdown == printed.split("pairwise leaderboard: ")[0].rstrip("\n") + "\n"
    assert "## Absolute scores" in markdown and "| rank | system | age |" in markdown
    assert (out / "pairwise_leaderboard.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "leaderboard.md").exists()
    config = tmp_path / "compare.yaml"  # the same from --config FILE
    config.write_text(json.dumps({"runs": [str(folder)], "pairwise": True, "n_resamples": 0,
                                  "output": str(tmp_path / "from_config")}))
    assert cli.main(["compare", "--config", str(config)]) == 0
    assert json.loads((tmp_path / "from_config" / "pairwise_leaderboard.json").read_text())["rows"][0]["ci"] is None
    with pytest.raises(SystemExit) as exit_info:  # the bootstrap flags need --pairwise
        cli.main(["compare", str(runs["A"]), "--seed", "1"])
    assert exit_info.value.code == 2
    assert "apply with --pairwise only" in capsys.readouterr().err


def test_without_reports_the_absolute_table_is_said_to_be_absent(tmp_path):
    board = pairwise_leaderboard([write_versus(tmp_path / "ab", A, B, ["a", "b", "a"],
                                               run_dirs=("runs/a", "runs/b"))], n_resamples=0)
    assert board["absolute"] is None
    assert "No run folder of these versus outputs has a report.json" in board["markdown"]
