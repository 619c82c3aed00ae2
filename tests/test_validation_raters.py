"""Judge validation from a folder of raters' files (what `parass2s listen` writes): ratings matched to the judge's score
of the very sample that was rated, then averaged per (system, id); the last of a rater's re-ratings counts; the agreement
between raters is Krippendorff's alpha as the `krippendorff` package computes it; bad folders are named; the command
end to end prints both agreements."""

import csv
import json

import krippendorff
import numpy as np
import pytest

from parass2s_hf.validation import (
    build_validation,
    inter_rater_agreement,
    load_pairs,
    main,
    read_ratings,
    render_markdown,
    run_name,
)

NAN = np.nan

# The judge's score of each (id, sample); None: no score (status "missing").
JUDGE = {
    "omni": {"age-1": (4, 3), "emo-1": (3, 5), "sar-1": (1, 3), "gen-1": (5, None)},
    "cascade": {"age-1": (2, 2), "emo-1": (4, 1), "sar-1": (3, 4), "gen-1": (2, 5)},
}
SUBSET = {"age-1": "age", "emo-1": "emotion", "sar-1": "sarcasm", "gen-1": "gender"}
RATERS = ("alice", "bob", "carol")
# (system, id, sample) -> the live rating of each rater who rated it (alice's re-rating is added below).
RATINGS = {
    ("omni", "age-1", 0): {"alice": 4, "bob": 5, "carol": 4},
    ("omni", "age-1", 1): {"alice": 2, "carol": 1},
    ("omni", "emo-1", 0): {"alice": 3, "bob": 3},
    ("omni", "emo-1", 1): {"bob": 5},
    ("omni", "sar-1", 0): {"alice": 2, "bob": 1, "carol": 2},
    ("omni", "gen-1", 0): {"alice": 5, "carol": 4},
    ("omni", "gen-1", 1): {"bob": 3},  # the judge gave this sample no score
    ("cascade", "age-1", 0): {"alice": 2, "bob": 3},
    ("cascade", "emo-1", 1): {"alice": 1, "bob": 2, "carol": 1},
    ("cascade", "sar-1", 0): {"carol": 4},
    ("cascade", "sar-1", 1): {"alice": 4, "bob": 4},
    ("cascade", "gen-1", 1): {"bob": 5, "carol": 4},
}
# The same units as a (raters, units) matrix, written out by hand: the units rated by 2 or more raters.
BY_HAND = np.array([
    # omni: age s0, age s1, emo s0, sar s0, gen s0; cascade: age s0, emo s1, sar s1, gen s1
    [4, 2, 3, 2, 5, 2, 1, 4, NAN],  # alice
    [5, NAN, 3, 1, NAN, 3, 2, 4, 5],  # bob
    [4, 1, NAN, 2, 4, NAN, 1, NAN, 4],  # carol
])


def make_run(folder, label):
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({
        "label": label, "system": {"name": label, "fingerprint": "S1"},
        "judge": {"config": {"mode": "end2end"}, "fingerprint": "J1"}}))
    lines = [{"id": item, "sample": sample, "system_fingerprint": "S1", "judge_fingerprint": "J1",
              "subset": SUBSET[item], "dimension": SUBSET[item], "status": "ok" if score is not None else "missing",
              "score": score, "reason": "" if score is not None else "no score"}
             for item, scores in JUDGE[label].items() for sample, score in enumerate(scores)]
    (folder / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(folder)


def rating(rater, system, item, sample, score, run):
    """One line as the listening page writes it."""
    return {"id": item, "sample": sample, "system": system, "run": run, "dimension": SUBSET[item],
            "human_score": score, "rater": rater, "comment": "", "time": "2026-01-01T00:00:00+00:00"}


@pytest.fixture
def rated(tmp_path):
    runs = {label: make_run(tmp_path / "runs" / label, label) for label in JUDGE}
    folder = tmp_path / "ratings"
    folder.mkdir()
    lines = {rater: [] for rater in RATERS}
    # alice first gave omni age-1 sample 0 a 1, then re-rated it: her last line (4, in RATINGS) counts
    lines["alice"].append(rating("alice", "omni", "age-1", 0, 1, runs["omni"]))
    for (system, item, sample), scores in RATINGS.items():
        for rater, score in scores.items():
            lines[rater].append(rating(rater, system, item, sample, score, runs[system]))
    for rater in ("alice", "bob"):
        (folder / f"{rater}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines[rater]))
    with open(folder / "carol.csv", "w", newline="") as f:  # a CSV without a rater column: the file names her
        writer = csv.DictWriter(f, ["id", "sample", "system", "human_score"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(lines["carol"])
    (folder / "notes.txt").write_text("not a ratings file")
    (folder / "old").mkdir()  # subfolders are not read
    (folder / "old" / "dave.jsonl").write_text(json.dumps(rating("dave", "omni", "age-1", 0, 1, "x")) + "\n")
    return {"folder": str(folder), "runs": [runs["omni"], runs["cascade"]]}


def test_folder_of_raters_matched_per_sample_and_averaged_per_item(rated):
    data = load_pairs(rated["folder"], rated["runs"])
    assert data.source["files"] == ["alice.jsonl", "bob.jsonl", "carol.csv"]
    assert data.source["raters"] == ["alice", "bob", "carol"] and data.source["superseded"] == 1
    assert data.source["rows"] == 1 + sum(len(s) for s in RATINGS.values())
    got = {(p.system, p.id): p for p in data.pairs}
    assert len(got) == 8
    age = got[("omni", "age-1")]
    # ratings 4, 5, 4 of sample 0 (judged 4) and 2, 1 of sample 1 (judged 3): the judge's score of the sample
    # each rater heard, not the item's mean over samples (3.5)
    assert (age.human, age.judge, age.raters, age.ratings, age.samples, age.group) == (
        pytest.approx(16 / 5), pytest.approx((3 * 4 + 2 * 3) / 5), 3, 5, [0, 1], "age")
    emo = got[("omni", "emo-1")]  # alice and bob on sample 0 (judged 3), bob alone on sample 1 (judged 5)
    assert (emo.human, emo.judge, emo.raters, emo.ratings) == (pytest.approx(11 / 3), pytest.approx(11 / 3), 2, 3)
    gen = got[("omni", "gen-1")]  # bob's rating of sample 1, which the judge did not score, is left out
    assert (gen.human, gen.judge, gen.raters, gen.ratings, gen.samples) == (4.5, 5.0, 2, 2, [0])
    assert any("1 rating(s) of samples the judge gave no score" in n for n in data.notes)
    assert any("1 rating(s) were given again by the same rater" in n for n in data.notes)
    sar = got[("cascade", "sar-1")]  # carol on sample 0 (judged 3), alice and bob on sample 1 (judged 4)
    assert (sar.human, sar.judge, sar.raters, sar.samples) == (4.0, pytest.approx(11 / 3), 3, [0, 1])
    # every pair is the mean over its ratings of (human, judge score of the rated sample)
    for (system, item), pair in got.items():
        scored = [(score, JUDGE[system][item][sample]) for (s, i, sample), scores in RATINGS.items()
                  if (s, i) == (system, item) for score in scores.values()
                  if JUDGE[system][item][sample] is not None]
        assert pair.human == pytest.approx(np.mean([h for h, _ in scored]))
        assert pair.judge == pytest.approx(np.mean([j for _, j in scored]))
    assert len(data.ratings) == sum(len(s) for s in RATINGS.values())


def test_alpha_equals_krippendorff_on_the_same_matrix(rated):
    data = load_pairs(rated["folder"], rated["runs"])
    report = build_validation(data.pairs, source=data.source, notes=data.notes, ratings=data.ratings,
                              n_resamples=200)
    inter = report["inter_rater"]
    assert (inter["raters"], inter["rater_names"], inter["units"], inter["shared_units"]) == (
        3, list(RATERS), len(RATINGS), BY_HAND.shape[1])
    assert inter["ratings"] == int(np.isfinite(BY_HAND).sum()) and inter["unit"] == "(system, id, sample)"
    for level in ("ordinal", "interval"):
        cell = inter[level]
        expected = krippendorff.alpha(reliability_data=BY_HAND, level_of_measurement=level)
        assert cell["value"] == pytest.approx(expected, abs=5e-5) and cell["reason"] is None
        assert cell["n"] == BY_HAND.shape[1]
        assert cell["ci"][0] <= cell["value"] <= cell["ci"][1] <= 1
    # the same seed, the same interval
    again = inter_rater_agreement(data.ratings, n_resamples=200)
    assert again["ordinal"] == inter["ordinal"] and again["interval"] == inter["interval"]
    # the judge-human pairs are there beside it, at the item level
    assert report["pairs"]["total"] == 8 and report["pairs"]["raters"]["ratings"] == len(data.ratings) - 1
    text = render_markdown(report)
    assert "## Inter-rater agreement (Krippendorff's alpha)" in text
    assert "Raters: 3 (alice, bob, carol); units (system, id, sample) rated by 2 or more raters: 9 of 12." in text
    assert f"| ordinal | {inter['ordinal']['value']:.3f} [" in text


def test_the_last_line_of_a_rater_wins(tmp_path):
    run = make_run(tmp_path / "omni", "omni")
    folder = tmp_path / "ratings"
    folder.mkdir()
    lines = [rating("alice", "omni", "age-1", 0, score, run) for score in (2, 5, 3)]  # changed her mind twice
    lines.append(rating("alice", "omni", "age-1", 1, 4, run))  # another sample: another unit
    (folder / "alice.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (folder / "bob.jsonl").write_text(json.dumps(rating("bob", "omni", "age-1", 0, 3, run)) + "\n")
    data = load_pairs(str(folder), [run])
    [pair] = data.pairs
    assert (pair.human, pair.raters, pair.ratings, pair.samples) == (pytest.approx(10 / 3), 2, 3, [0, 1])
    assert pair.judge == pytest.approx((4 + 3 + 4) / 3)
    assert data.source["superseded"] == 2
    assert sorted((r["rater"], r["sample"], r["human_score"]) for r in data.ratings) == [
        ("alice", 0, 3.0), ("alice", 1, 4.0), ("bob", 0, 3.0)]
    # one shared unit, rated 3 and 3: no variation, so no alpha (never an invented value)
    inter = inter_rater_agreement(data.ratings, n_resamples=50)
    assert inter["shared_units"] == 1 and inter["ordinal"]["value"] is None
    assert "every rating of the shared units is 3" in inter["reason"]
    # an undo rewrites the file without its last line: the rating before it counts again
    (folder / "alice.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines[:2]))
    assert load_pairs(str(folder), [run]).pairs[0].human == 4.0  # alice's 5, bob's 3
    # the same (rater, system, id, sample) in two files: which counts is unknown, so it is an error naming both
    (folder / "alice-laptop.jsonl").write_text(json.dumps(rating("alice", "omni", "age-1", 0, 1, run)) + "\n")
    with pytest.raises(ValueError, match=r"rater 'alice' rated age-1 sample 0 \(omni\) in two files, .*alice-laptop.jsonl "
                                         r"\(line 1\) and .*alice.jsonl \(line 2\)"):
        load_pairs(str(folder), [run])


def test_not_computed_is_said_with_its_reason(tmp_path):
    run = make_run(tmp_path / "omni", "omni")
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "alice.jsonl").write_text("".join(json.dumps(rating("alice", "omni", item, 0, 3 + k, run)) + "\n"
                                                for k, item in enumerate(("age-1", "emo-1"))))
    (folder / "bob.jsonl").write_text("")  # a rater who undid every rating: skipped, and said
    data = load_pairs(str(folder), [run])
    assert any("1 ratings file(s)" in n and "bob.jsonl" in n for n in data.notes)
    report = build_validation(data.pairs, source=data.source, notes=data.notes, ratings=data.ratings, n_resamples=50)
    inter = report["inter_rater"]
    assert inter["reason"] == "1 rater (alice): agreement between raters needs 2 or more"
    assert inter["ordinal"] == {"value": None, "ci": None, "n": 0, "reason": inter["reason"], "ci_reason": None}
    assert "Not computed: 1 rater (alice): agreement between raters needs 2 or more." in render_markdown(report)
    # two raters who rated different units: nothing shared
    (folder / "bob.jsonl").write_text(json.dumps(rating("bob", "omni", "sar-1", 0, 2, run)) + "\n")
    inter = inter_rater_agreement(load_pairs(str(folder), [run]).ratings)
    assert inter["reason"] == "no unit (system, id, sample) is rated by 2 or more of the 2 raters"
    # a single file without a rater column: today's format, raters unnamed
    single = tmp_path / "ratings.csv"
    single.write_text("id,human_score,judge_score\na,3,4\na,4,4\nb,2,1\n")
    data = load_pairs(str(single))
    assert [(p.human, p.raters) for p in data.pairs] == [(3.5, 2), (2.0, 1)]
    inter = inter_rater_agreement(data.ratings)
    assert inter["reason"].startswith("the ratings name no rater") and inter["unnamed"] == 3


def test_ratings_without_sample_stay_at_the_item_level(tmp_path):
    run = make_run(tmp_path / "omni", "omni")
    folder = tmp_path / "ratings"
    folder.mkdir()
    (folder / "alice.csv").write_text("id,human_score\nage-1,4\nemo-1,2\nsar-1,1\n")
    (folder / "bob.csv").write_text("id,human_score\nage-1,5\nemo-1,3\nsar-1,1\n")
    data = load_pairs(str(folder), [run])
    got = {p.id: (p.human, p.judge, p.raters, p.samples) for p in data.pairs}
    assert got == {"age-1": (4.5, 3.5, 2, None), "emo-1": (2.5, 4.0, 2, None), "sar-1": (1.0, 2.0, 2, None)}
    inter = inter_rater_agreement(data.ratings, n_resamples=0)
    assert inter["unit"] == "(system, id)" and inter["shared_units"] == 3
    assert inter["interval"]["value"] == pytest.approx(
        krippendorff.alpha(reliability_data=[[4, 2, 1], [5, 3, 1]], level_of_measurement="interval"), abs=5e-5)
    assert inter["interval"]["ci"] is None and inter["interval"]["ci_reason"] == "no bootstrap (n_resamples=0)"


def test_bad_folders_and_samples_are_named(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("nothing here")
    with pytest.raises(ValueError, match=r"ratings folder '.*empty' holds no ratings file: expected one "
                                         r"`<rater>.jsonl` \(or `.csv`\) per rater"):
        read_ratings(str(empty))
    (empty / "alice.jsonl").write_text("")
    with pytest.raises(ValueError, match=r"ratings folder '.*empty' holds no ratings: its files \(alice.jsonl\) are "
                                         r"empty"):
        read_ratings(str(empty))
    run = make_run(tmp_path / "omni", "omni")
    (empty / "alice.jsonl").write_text(json.dumps(rating("alice", "omni", "age-1", 7, 3, run)) + "\n")
    with pytest.raises(ValueError, match=r"ratings folder .*empty: 1 rated sample\(s\) not in .*omni: age-1 sample 7"):
        load_pairs(str(empty), [run])
    (empty / "alice.jsonl").write_text(json.dumps(rating("alice", "omni", "age-1", "first", 3, run)) + "\n")
    with pytest.raises(ValueError, match=r"alice.jsonl, line 1: sample 'first' is not a whole number of at least 0"):
        read_ratings(str(empty))
    (empty / "alice.jsonl").write_text(json.dumps(rating("alice", "gpt", "age-1", 0, 3, "runs/gpt")) + "\n")
    with pytest.raises(ValueError, match=r"names system\(s\) \['gpt'\] that no --run folder holds.*The ratings came "
                                         r"from run folder\(s\) \['runs/gpt'\]: pass them with --run"):
        load_pairs(str(empty), [run])


def test_run_name_is_public_and_unchanged(tmp_path):
    assert run_name(str(tmp_path), {"label": "omni", "system": {"name": "x"}}) == "omni"
    assert run_name(str(tmp_path), {"system": {"name": "x"}}) == "x"
    (tmp_path / "run.json").write_text(json.dumps({"system": "from-run-json"}))
    assert run_name(str(tmp_path), {}) == "from-run-json"
    assert run_name(str(tmp_path / "folder-name"), {}) == "folder-name"


def test_cli_end_to_end_prints_both_agreements(rated, tmp_path, capsys):
    out = tmp_path / "out"
    omni, cascade = rated["runs"]
    assert main(["--ratings", rated["folder"], "--run", omni, "--run", cascade, "--output", str(out),
                 "--n_resamples", "100"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "validation.json").read_text())
    assert printed == (out / "validation.md").read_text() + "\n"
    assert "## Judge-human agreement (the paper's Table 2 layout, Pearson)" in printed
    assert "## Inter-rater agreement (Krippendorff's alpha)" in printed
    assert f"Ratings: `{rated['folder']}` (3 ratings file(s)): " in printed
    inter = report["inter_rater"]
    assert inter["raters"] == 3 and inter["shared_units"] == 9
    assert inter["ordinal"]["value"] == pytest.approx(
        krippendorff.alpha(reliability_data=BY_HAND, level_of_measurement="ordinal"), abs=5e-5)
    assert f"| interval | {inter['interval']['value']:.3f} [" in printed
    assert report["agreement"]["columns"]["overall"]["pearson"]["n"] == 8

    empty = tmp_path / "nothing"
    empty.mkdir()
    assert main(["--ratings", str(empty), "--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("parass2s validate-judge: error: ratings folder") and "nothing" in err
