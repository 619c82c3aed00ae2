"""Judge validation: known correlations recovered with their intervals (Table 2), system ranking (Table 3), judge
scores read from run folders, bad input named, probes with a scripted judge (tests only) and the real judge on tiny
checkpoints, and the `validate-judge` command end to end."""

import csv
import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from parass2s_hf.audio import load_audio
from parass2s_hf.judge import JudgeConfig, JudgeResult, ParaS2SJudge
from parass2s_hf.render import get_renderer
from parass2s_hf.validation import (
    RatedPair,
    build_validation,
    correlation,
    length_bias_probe,
    load_pairs,
    main,
    position_bias_probe,
    probe_rows,
    read_run,
    render_markdown,
    run_probes,
    style_hallucination_probe,
    system_ranking,
)

# ---- a synthetic ratings file with known correlations ----
#
# Per dimension, a latent quality L ~ N(0, var_l); each of RATERS raters scores L + e_h (var RATER_VAR), so the mean of
# the raters has noise variance RATER_VAR / RATERS; the judge scores L + e_j (var judge_var). The population Pearson of
# the averaged human score and the judge score is var_l / sqrt((var_l + var_h)(var_l + var_j)). Every dimension has
# the same total variance (1) on both sides and the same means, so the pooled Pearson is the mean of the four.

RHOS = {"age": 0.9, "emotion": 0.7, "gender": 0.3, "sarcasm": 0.5}
N_PER = 400
RATERS = 2
SCALE, CENTRE = 0.4, 3.0  # scores = CENTRE + SCALE * value: within 1-5 with this seed (checked below)
N_RESAMPLES = 400


def known_rho(var_l, var_h, var_j):
    return var_l / math.sqrt((var_l + var_h) * (var_l + var_j))


def tolerance(rho, n):
    """3 standard errors of Pearson's r for n bivariate-normal pairs, (1 - rho^2) / sqrt(n)."""
    return 3 * (1 - rho ** 2) / math.sqrt(n)


def synthetic_rows(seed=0):
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for dim, rho in RHOS.items():
        var_l = rho  # with var_h = var_j = 1 - rho the known rho is exactly `rho`
        var_h, var_j = 1 - rho, 1 - rho
        assert known_rho(var_l, var_h, var_j) == pytest.approx(rho)
        latent = rng.normal(0, math.sqrt(var_l), N_PER)
        judge = latent + rng.normal(0, math.sqrt(var_j), N_PER)
        raters = latent[:, None] + rng.normal(0, math.sqrt(var_h * RATERS), (N_PER, RATERS))
        for i in range(N_PER):
            item = f"{dim}-{i:04d}"
            truth[item] = (CENTRE + SCALE * raters[i].mean(), CENTRE + SCALE * judge[i], dim)
            for k in range(RATERS):
                rows.append({"id": item, "human_score": CENTRE + SCALE * raters[i, k], "dimension": dim,
                             "judge_score": CENTRE + SCALE * judge[i], "rater": k})
    assert all(1 <= r["human_score"] <= 5 for r in rows)
    return rows, truth


def write_csv(path, rows, columns=None):
    columns = columns or list(rows[0])
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def write_jsonl(path, rows):
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return str(path)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    rows, truth = synthetic_rows()
    path = write_csv(tmp_path_factory.mktemp("ratings") / "ratings.csv", rows)
    data = load_pairs(path)
    report = build_validation(data.pairs, source=data.source, notes=data.notes, n_resamples=N_RESAMPLES)
    return {"path": path, "rows": rows, "truth": truth, "data": data, "report": report}


def test_known_correlations_are_recovered_in_the_table_2_layout(synthetic):
    report, truth = synthetic["report"], synthetic["truth"]
    columns = report["agreement"]["columns"]
    assert report["agreement"]["layout"] == ["age", "emotion", "gender", "sarcasm", "iemocap", "meld", "overall",
                                             "average"]
    assert report["pairs"]["total"] == 4 * N_PER and report["pairs"]["raters"] == {
        "min": RATERS, "max": RATERS, "mean": RATERS, "ratings": 4 * N_PER * RATERS}
    for dim, rho in RHOS.items():
        cell = columns[dim]["pearson"]
        assert cell["n"] == N_PER and cell["reason"] is None
        assert abs(cell["value"] - rho) < tolerance(rho, N_PER), (dim, cell)
        assert cell["ci"][0] < rho < cell["ci"][1], (dim, cell)
        # the interval is a real 95% interval: about 2 x 1.96 standard errors wide, not [-1, 1]
        width = cell["ci"][1] - cell["ci"][0]
        assert 0.5 < width / (2 * 1.96 * (1 - rho ** 2) / math.sqrt(N_PER)) < 2, (dim, width)
        # the column holds its own dimension's value: closest to its rho of the four
        assert min(RHOS, key=lambda d: abs(RHOS[d] - cell["value"])) == dim
    pooled = float(np.mean(list(RHOS.values())))
    for column in ("overall", "average"):
        cell = columns[column]["pearson"]
        assert abs(cell["value"] - pooled) < tolerance(pooled, 4 * N_PER), (column, cell)
        assert cell["ci"][0] < pooled < cell["ci"][1], (column, cell)
    assert columns["overall"]["pearson"]["n"] == 4 * N_PER
    assert columns["iemocap"]["pearson"] == {"value": None, "ci": None, "n": 0, "reason": "n=0: no pairs",
                                             "ci_reason": None}
    # every value is the raters' mean against the judge, as scipy computes it
    ids = sorted(truth)
    human = np.array([truth[i][0] for i in ids])
    judge = np.array([truth[i][1] for i in ids])
    for kind, fn in (("pearson", sps.pearsonr), ("spearman", sps.spearmanr), ("kendall", sps.kendalltau)):
        assert columns["overall"][kind]["value"] == pytest.approx(fn(human, judge).statistic, abs=6e-5)
        cell = columns["overall"][kind]
        assert cell["ci"][0] <= cell["value"] <= cell["ci"][1]
    sarcasm = [i for i in ids if truth[i][2] == "sarcasm"]
    h, j = np.array([truth[i][0] for i in sarcasm]), np.array([truth[i][1] for i in sarcasm])
    assert columns["sarcasm"]["spearman"]["value"] == pytest.approx(sps.spearmanr(h, j).statistic, abs=6e-5)
    assert columns["sarcasm"]["kendall"]["value"] == pytest.approx(sps.kendalltau(h, j).statistic, abs=6e-5)
    assert columns["average"]["pearson"]["value"] == pytest.approx(
        np.mean([columns[d]["pearson"]["value"] for d in RHOS]), abs=2e-4)


def test_same_data_same_report_and_jsonl_reads_like_csv(synthetic, tmp_path):
    age = [p for p in synthetic["data"].pairs if p.group == "age"]
    again = correlation([p.human for p in age], [p.judge for p in age], n_resamples=N_RESAMPLES)
    assert again == synthetic["report"]["agreement"]["columns"]["age"]["pearson"]  # fixed seed: the same interval
    jsonl = load_pairs(write_jsonl(tmp_path / "ratings.jsonl", synthetic["rows"]))
    assert [p.to_dict() for p in jsonl.pairs] == [p.to_dict() for p in synthetic["data"].pairs]
    text = render_markdown(synthetic["report"])
    assert "| judge | age | emotion | gender | sarcasm | IEMOCAP | MELD | overall | avg |" in text
    assert "no system-level ranking" in text  # no system column


def pairs_for_systems(means_human, means_judge, n=30, seed=1):
    rng = np.random.default_rng(seed)
    pairs = []
    for s, (mh, mj) in enumerate(zip(means_human, means_judge)):
        for i in range(n):
            pairs.append(RatedPair(f"x{i}", f"sys{s}", float(np.clip(mh + rng.normal(0, 0.2), 1, 5)), 1,
                                   float(np.clip(mj + rng.normal(0, 0.2), 1, 5)), "age"))
    return pairs


def test_system_ranking_known_order_and_one_swap():
    means = [1.5, 2.25, 3.0, 3.75, 4.5]
    ranking = system_ranking(pairs_for_systems(means, means), n_resamples=N_RESAMPLES)
    assert [r["system"] for r in ranking["systems"]] == ["sys4", "sys3", "sys2", "sys1", "sys0"]
    assert all(r["judge_rank"] == r["human_rank"] for r in ranking["systems"])
    assert [r["judge_rank"] for r in ranking["systems"]] == [1, 2, 3, 4, 5]
    assert ranking["spearman"]["value"] == 1.0 and ranking["kendall"]["value"] == 1.0
    assert ranking["spearman"]["ci"] == [1.0, 1.0] and ranking["spearman"]["n"] == 5
    assert ranking["swapped_pairs"] == 0 and ranking["swapped"] == []

    swapped = [1.5, 2.25, 3.75, 3.0, 4.5]  # the judge puts sys3 below sys2; humans the other way
    ranking = system_ranking(pairs_for_systems(means, swapped), n_resamples=N_RESAMPLES)
    assert ranking["swapped_pairs"] == 1 and ranking["swapped"] == [["sys2", "sys3"]]
    assert ranking["spearman"]["value"] == pytest.approx(0.9) and ranking["kendall"]["value"] == pytest.approx(0.8)
    low, high = ranking["spearman"]["ci"]
    assert low <= 0.9 <= high
    rows = {r["system"]: r for r in ranking["systems"]}
    assert (rows["sys2"]["judge_rank"], rows["sys2"]["human_rank"]) == (2, 3)

    two = system_ranking(pairs_for_systems(means[:2], means[:2]), n_resamples=N_RESAMPLES)
    assert two["spearman"]["value"] is None and two["spearman"]["reason"] == "n=2: too few systems"
    assert two["swapped_pairs"] == 0 and len(two["systems"]) == 2


def make_run(folder, label, records, *, judge_fp="J1", system_fp="S1", mode="end2end", with_label=True):
    folder.mkdir(parents=True)
    manifest = {"system": {"name": label, "fingerprint": system_fp},
                "judge": {"config": {"mode": mode}, "fingerprint": judge_fp}}
    if with_label:
        manifest["label"] = label
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with open(folder / "results.jsonl", "w") as f:
        for r in records:
            line = {"id": r[0], "sample": r[1], "system_fingerprint": r[5] if len(r) > 5 else system_fp,
                    "judge_fingerprint": r[6] if len(r) > 6 else judge_fp, "subset": r[2], "dimension": r[2],
                    "style": "x", "status": r[3], "score": r[4],
                    "score_expected": None if r[4] is None else r[4] - 0.25, "reason": "" if r[4] else "no score"}
            f.write(json.dumps(line) + "\n")
    return str(folder)


def test_judge_scores_from_run_folders(tmp_path):
    run_a = make_run(tmp_path / "a", "omni", [
        ("age-1", 0, "age", "ok", 4), ("age-1", 1, "age", "ok", 5),   # two samples: averaged
        ("emo-1", 0, "emotion", "ok", 2), ("emo-1", 0, "emotion", "ok", 3),  # a rerun line: the last one wins
        ("emo-2", 0, "emotion", "missing", None),  # the judge gave no score: counted, never invented
        ("mel-1", 0, "meld", "empty_response", 1),  # the system's failure: its score counts
        ("age-2", 0, "age", "ok", 1, "S1", "OTHER-JUDGE"),  # made under another judge: ignored
    ])
    run_b = make_run(tmp_path / "b", "cascade", [("age-1", 0, "age", "ok", 3), ("emo-1", 0, "emotion", "ok", 4)],
                     with_label=False)
    scores = read_run(run_a)
    assert scores.system == "omni" and scores.scores == {"age-1": 4.5, "emo-1": 3.0, "emo-2": None, "mel-1": 1.0}
    assert "missing (no score)" in scores.reasons["emo-2"]
    assert read_run(run_a, "score_expected").scores["age-1"] == 4.25
    ratings = write_csv(tmp_path / "r.csv", [
        {"id": "age-1", "system": "omni", "human_score": 4}, {"id": "age-1", "system": "omni", "human_score": 5},
        {"id": "emo-1", "system": "omni", "human_score": 2.5}, {"id": "emo-2", "system": "omni", "human_score": 3},
        {"id": "mel-1", "system": "omni", "human_score": 1}, {"id": "age-1", "system": "cascade", "human_score": 3},
        {"id": "emo-1", "system": "cascade", "human_score": 4, "dimension": "sarcasm"}],
        ["id", "system", "human_score", "dimension"])
    data = load_pairs(ratings, [run_a, run_b])
    got = {(p.system, p.id): (p.human, p.raters, p.judge, p.group) for p in data.pairs}
    assert got == {("omni", "age-1"): (4.5, 2, 4.5, "age"), ("omni", "emo-1"): (2.5, 1, 3.0, "emotion"),
                   ("omni", "emo-2"): (3.0, 1, None, "emotion"), ("omni", "mel-1"): (1.0, 1, 1.0, "meld"),
                   ("cascade", "age-1"): (3.0, 1, 3.0, "age"), ("cascade", "emo-1"): (4.0, 1, 4.0, "emotion")}
    assert data.source["judge_label"] == "end2end judge"  # the run's subset wins over the ratings' dimension
    report = build_validation(data.pairs, label=data.source["judge_label"], source=data.source, n_resamples=50)
    assert report["pairs"]["without_judge_score"] == {"count": 1, "ids": ["emo-2"]}
    assert any("1 rated item(s) have no judge score" in n and "emo-2 (omni)" in n for n in report["notes"])
    assert report["agreement"]["columns"]["overall"]["pearson"]["n"] == 5
    assert report["agreement"]["columns"]["age"]["pearson"]["reason"] == "n=2: too few pairs"
    assert report["agreement"]["columns"]["meld"]["pearson"]["reason"] == "n=1: too few pairs"
    assert report["ranking"]["spearman"]["reason"] == "n=2: too few systems"
    assert [r["system"] for r in report["ranking"]["systems"]] == ["cascade", "omni"]
    text = render_markdown(report)
    assert "# Judge validation: end2end judge" in text and "— (n=2: too few pairs)" in text
    assert "age: no correlation (n=2: too few pairs)." in text


def test_bad_input_is_named(tmp_path):
    no_score = write_csv(tmp_path / "bad.csv", [{"id": "a", "score": 3}])
    with pytest.raises(ValueError, match=r"bad.csv: missing required column\(s\) \['human_score'\] \(columns found: "
                                         r"\['id', 'score'\]\)"):
        load_pairs(no_score)
    neither = write_jsonl(tmp_path / "bad.jsonl", [{"item": "a", "rating": 3}])
    with pytest.raises(ValueError, match=r"bad.jsonl: missing required column\(s\) \['id', 'human_score'\]"):
        load_pairs(neither)
    out_of_scale = write_csv(tmp_path / "scale.csv", [{"id": "a", "human_score": 3}, {"id": "b", "human_score": 7}])
    with pytest.raises(ValueError, match=r"scale.csv, line 3: human_score 7 is outside the rating scale 1-5"):
        load_pairs(out_of_scale)
    no_judge = write_csv(tmp_path / "nojudge.csv", [{"id": "a", "human_score": 3}])
    with pytest.raises(ValueError, match="gives no judge scores: add a judge_score column, or pass --run"):
        load_pairs(no_judge)
    run = make_run(tmp_path / "run", "omni", [("age-1", 0, "age", "ok", 4)])
    unknown = write_csv(tmp_path / "unknown.csv", [{"id": "age-1", "human_score": 4}]
                        + [{"id": f"ghost-{i:02d}", "human_score": 3} for i in range(25)])
    with pytest.raises(ValueError) as err:
        load_pairs(unknown, [run])
    message = str(err.value)
    assert "25 id(s) not in" in message and "ghost-00" in message and "ghost-19" in message
    assert "ghost-20" not in message and "and 5 more" in message
    other_system = write_csv(tmp_path / "other.csv", [{"id": "age-1", "system": "gpt", "human_score": 4}])
    with pytest.raises(ValueError, match=r"names system\(s\) \['gpt'\] that no --run folder holds; the runs are "
                                         r"\['omni'\]"):
        load_pairs(other_system, [run])
    # too few pairs, or constant scores: the cell says why and is None, never computed from nothing
    assert correlation([3, 4], [2, 5]) == {"value": None, "ci": None, "n": 2, "reason": "n=2: too few pairs",
                                           "ci_reason": None}
    assert correlation([3, 3, 3, 3], [1, 2, 3, 4])["reason"] == "constant human scores"
    assert correlation([1, 2, 3], [4, 4, 4], "kendall")["reason"] == "constant judge scores"
    assert correlation([], [])["reason"] == "n=0: no pairs"
    few = correlation([1, 2, 3], [1, 3, 2])
    assert few["value"] == 0.5 and few["ci"] is None and "resamples have constant scores" in few["ci_reason"]
    with pytest.raises(ValueError, match="Unknown correlation 'cosine'"):
        correlation([1, 2, 3], [1, 2, 3], "cosine")


def test_cli_end_to_end(tmp_path, capsys):
    rng = np.random.default_rng(3)
    rows = []
    for s, mean in enumerate([2.0, 2.8, 3.6]):
        for i in range(40):
            latent = mean + rng.normal(0, 0.5)
            dim = ("age", "emotion", "gender", "sarcasm")[i % 4]
            rows.append({"id": f"{dim}-{i:03d}", "system": f"sys{s}", "dimension": dim,
                         "human_score": float(np.clip(latent + rng.normal(0, 0.3), 1, 5)),
                         "judge_score": float(np.clip(latent + rng.normal(0, 0.3), 1, 5))})
    ratings = write_csv(tmp_path / "ratings.csv", rows)
    out = tmp_path / "out"
    assert main(["--ratings", ratings, "--output", str(out), "--n_resamples", "100", "--label", "my judge"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "validation.json").read_text())
    assert printed == (out / "validation.md").read_text() + "\n"
    assert "## Judge-human agreement (the paper's Table 2 layout, Pearson)" in printed
    assert "## System ranking (the paper's Table 3 layout)" in printed and "| my judge |" in printed
    assert report["label"] == "my judge" and report["pairs"]["total"] == 120
    assert [r["system"] for r in report["ranking"]["systems"]] == ["sys2", "sys1", "sys0"]
    assert report["ranking"]["swapped_pairs"] == 0 and report["ranking"]["spearman"]["value"] == 1.0
    assert report["agreement"]["columns"]["overall"]["pearson"]["value"] > 0.8
    assert report["agreement"]["columns"]["meld"]["pearson"]["value"] is None  # None in JSON, with its reason

    bad = write_csv(tmp_path / "bad.csv", [{"id": "a", "judge_score": 3}])
    assert main(["--ratings", bad, "--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("parass2s validate-judge: error: ratings file") and "['human_score']" in err
    assert main(["--output", str(tmp_path / "x")]) == 2
    assert "give --ratings" in capsys.readouterr().err
    assert main(["--probes", "--judge_mode", "vibes", "--output", str(tmp_path / "x")]) == 2
    assert "Unknown judge mode 'vibes'" in capsys.readouterr().err


# ---- probes ----

def median_pitch(audio):
    import librosa

    return float(np.nanmedian(librosa.yin(audio, fmin=60, fmax=500, sr=16000)))


class PitchJudge:
    """Tests only: perceives the response's tone from its pitch ("high" above `threshold` Hz, else "low"); `score` is
    4 for a high tone, 2 for a low one; `score_expected` grows with the response's duration (1 + 4 * seconds / 20)."""

    def __init__(self, threshold):
        self.threshold = threshold
        self.seen = []

    def score(self, items):
        out = []
        for item in items:
            audio = load_audio(item.response_audio, item.sampling_rate).array
            self.seen.append(item)
            tone = "high" if median_pitch(audio) > self.threshold else "low"
            out.append(JudgeResult(score=4 if tone == "high" else 2, score_expected=by_duration(audio),
                                   perception={"response_tone": f"a {tone} voice"}, item_id=item.item_id))
        return out


def by_duration(audio):
    return 1 + 4 * min(len(audio) / 16000 / 20, 1)


@pytest.fixture(scope="module")
def probe_setup(sample_test):
    renderer = get_renderer("espeak-ng")
    rows = probe_rows(sample_test, 4)
    words = rows[0]["reference_reply"]
    high = median_pitch(renderer.render(words, "cheerful", voice_key="parass2s-probe").array)
    low = median_pitch(renderer.render(words, "sympathetic", voice_key="parass2s-probe").array)
    assert high > 1.15 * low  # espeak-ng's cheerful is clearly higher than its sympathetic
    return renderer, rows, math.sqrt(high * low)


def test_probe_rows_take_each_dimension_in_turn(probe_setup):
    _, rows, _ = probe_setup
    assert [r["dimension"] for r in rows] == ["emotion", "sarcasm", "age", "gender"]
    assert all(r["audio"]["sampling_rate"] == 16000 and r["reference_reply"] for r in rows)


def test_style_hallucination_probe_with_a_pitch_hearing_judge(probe_setup):
    renderer, rows, threshold = probe_setup
    out = style_hallucination_probe(PitchJudge(threshold), renderer, rows)
    contrast, same = out["contrasting_styles"], out["same_style_different_words"]
    assert out["styles"] == ["cheerful", "sympathetic"] and out["rows"] == 4 and out["missing_scores"] == 0
    assert contrast["tone_changed_rate"] == 1.0 and contrast["score_changed_rate"] == 1.0
    assert contrast["tone_pairs"] == 4 and contrast["mean_score_difference"] == 2.0
    assert same["tone_changed_rate"] == 0.0 and same["score_changed_rate"] == 0.0 and same["style"] == "cheerful"
    assert out["notes"] == []


def test_position_and_length_probes_with_a_duration_judge(probe_setup):
    renderer, rows, threshold = probe_setup
    judge = PitchJudge(threshold)
    position = position_bias_probe(judge, renderer, rows, judge_field="score_expected")
    original, swapped = judge.seen[0::2], judge.seen[1::2]
    assert all(np.array_equal(o.query_audio, s.response_audio) for o, s in zip(original, swapped))
    assert all(np.array_equal(o.response_audio, s.query_audio) for o, s in zip(original, swapped))
    diffs = [by_duration(o.response_audio) - by_duration(o.query_audio) for o in original]
    assert position["score_pairs"] == 4 and position["mean_score_difference"] == pytest.approx(np.mean(diffs), abs=1e-4)
    assert position["agreement_rate"] == 0.0 and position["notes"] == []  # no config: the mode is unknown

    length = length_bias_probe(judge, renderer, rows, judge_field="score_expected", n_resamples=100)
    assert length["score_pairs"] == 4 and length["mean_seconds_padded"] > length["mean_seconds_short"] + 1
    assert length["mean_score_difference"] > 0.2 and length["padded_higher_rate"] == 1.0
    corr = length["duration_score_correlation"]
    assert corr["n"] == 8 and corr["value"] == pytest.approx(1.0, abs=1e-3)  # the score is linear in duration


def test_probes_with_the_real_judge_on_tiny_checkpoints_report_missing_scores(tiny, probe_setup):
    renderer, rows, _ = probe_setup
    judge = ParaS2SJudge(JudgeConfig(mode="end2end", audio_llm=tiny["audio_llm"], rubric_max_new_tokens=8,
                                     max_retries=0))
    out = run_probes(judge, renderer, rows[:1], n_resamples=50)
    assert out["judge"]["mode"] == "end2end" and out["rows"] == [rows[0]["id"]]
    style = out["style_hallucination"]
    assert style["missing_scores"] == 3 and style["contrasting_styles"]["score_changed_rate"] is None
    assert style["contrasting_styles"]["tone_changed_rate"] is None and style["missing_tone"] == 3
    assert any("no response tone description" in n for n in style["notes"])
    position, length = out["position_bias"], out["length_bias"]
    assert position["missing_scores"] == 2 and position["agreement_rate"] is None
    assert position["missing_reasons"] and "no score" in position["missing_reasons"][0]
    assert length["missing_scores"] == 2 and length["mean_score_difference"] is None
    assert length["duration_score_correlation"]["reason"] == "n=0: no pairs"
    report = build_validation([], probes=out, n_resamples=0)
    text = render_markdown({**report, "agreement": None, "ranking": None})
    assert "### Position bias (clips swapped)" in text and "- missing scores: 2" in text
