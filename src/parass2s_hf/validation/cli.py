"""`parass2s validate-judge`: how well the judge agrees with human ratings, and how it fails.

```
parass2s validate-judge --ratings ratings.csv                                # judge scores in a judge_score column
parass2s validate-judge --ratings ratings.csv --run runs/omni --run runs/cascade --output validation/
parass2s validate-judge --ratings ratings.jsonl --run runs/omni --judge_field score_expected
parass2s validate-judge --ratings ratings/ --run runs/omni --run runs/cascade     # a folder: one <rater>.jsonl each
parass2s validate-judge --probes --judge_mode end2end --judge_audio_llm Qwen/Qwen2-Audio-7B-Instruct --probe_rows 16
```

Writes `validation.json` and `validation.md` (the paper's Table 2 and Table 3 layouts with bootstrap intervals, the
agreement between raters as Krippendorff's alpha, the probes, and notes on what could not be computed) to `--output` and prints the Markdown. Bad input (missing columns,
ids that no run holds, ...) ends with one line naming the problem and exit status 2; so, with `--probes`, does a judge
model that is not available (offline: not in the Hub cache) or of the wrong kind, checked before any row is rendered.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from ..cli_style import HelpFormatter, add_config_file, add_verbosity, dash_aliases, examples, parse_args
from ..io import write_atomic, write_json
from ..stats import markdown_table
from .probes import PROBES, probe_rows, run_probes
from .ratings import JUDGE_FIELDS, load_pairs
from .stats import KIND_LABELS, VERSION, build_validation

DASH = "—"
FILES = ("validation.json", "validation.md")


def validate_judge(ratings: str | None = None, runs: Sequence[str] = (), *, judge_field: str = "score",
                   label: str | None = None, judge=None, renderer=None, rows=None,
                   probes: Sequence[str] = PROBES, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                   method: str = "percentile") -> dict:
    """The validation report: agreement with the ratings (when given) and the probes (when a judge is given).

    Args:
        ratings (`str`, *optional*): the ratings file, or a folder of them, one per rater (see
            `parass2s_hf.validation.ratings`).
        runs (`list[str]`, *optional*): evaluation run folders holding the judge's scores.
        judge_field (`str`, *optional*, defaults to `"score"`): `score` or `score_expected`.
        label (`str`, *optional*): the judge's row label (defaults to its mode, from the runs' manifests).
        judge (*optional*), renderer (*optional*), rows (`list[dict]`, *optional*): run the probes with this judge on
            these rows (`probe_rows`), rendering with `renderer` (espeak-ng when `None`).
        probes (`list[str]`, *optional*): which probes (all by default).
        confidence, n_resamples, seed, method: the bootstrap's settings.

    Returns:
        `dict`: see `build_validation`; without ratings, `pairs`, `agreement` and `ranking` are `None`.
    """
    if ratings is None and judge is None:
        raise ValueError("nothing to validate: give a ratings file (--ratings), or a judge for the probes (--probes).")
    if runs and ratings is None:
        raise ValueError("--run needs --ratings: the run's judge scores are compared with human ratings.")
    probe_out = None
    if judge is not None:
        if rows is None:
            raise ValueError("the probes need benchmark rows (probe_rows(dataset)).")
        if renderer is None:
            from ..render import get_renderer

            renderer = get_renderer("espeak-ng")
        probe_out = run_probes(judge, renderer, rows, probes, judge_field=judge_field, confidence=confidence,
                               n_resamples=n_resamples, seed=seed, method=method)
    if ratings is None:
        report = build_validation([], label=label or "judge", probes=probe_out, confidence=confidence,
                                  n_resamples=n_resamples, seed=seed, method=method)
        return {**report, "pairs": None, "agreement": None, "ranking": None, "notes": ["no ratings: probes only."]}
    data = load_pairs(ratings, runs, judge_field)
    return build_validation(data.pairs, label=label or data.source.get("judge_label", "judge"), source=data.source,
                            notes=data.notes, probes=probe_out, confidence=confidence, n_resamples=n_resamples,
                            seed=seed, method=method, ratings=data.ratings)


# ---- Markdown ----

def _num(value, decimals=3) -> str:
    return DASH if value is None else f"{value:.{decimals}f}"


def _rate(value) -> str:
    return DASH if value is None else f"{value:.0%}"


def _cell(cell: dict) -> str:
    if cell["value"] is None:
        reason = cell.get("reason") or ""
        return DASH if not reason or reason.startswith("n=0") else f"{DASH} ({reason})"
    text = f"{cell['value']:.3f}"
    if cell.get("ci"):
        text += f" [{cell['ci'][0]:.3f}, {cell['ci'][1]:.3f}]"
    return text + ("*" if cell.get("ci_note") else "")


def _source_lines(report: dict) -> list[str]:
    source, pairs = report.get("source") or {}, report["pairs"]
    raters = pairs["raters"]
    runs = ", ".join(f"{r['path']} ({r['system']})" for r in source.get("runs", []))
    per_item = (f"{raters['min']}" if raters["min"] == raters["max"]
                else f"{raters['min']}-{raters['max']} (mean {raters['mean']})")
    where = f"the run folder(s) {runs}" if source.get("judge_source") == "run" else "the ratings' judge_score column"
    files = f" ({len(source['files'])} ratings file(s))" if source.get("files") else ""
    return [(f"Ratings: `{source.get('ratings')}`{files}: {raters['ratings']} rating(s) of {pairs['total']} item(s), "
            f"{per_item} rater(s) per item; judge scores "
            f"(`{source.get('judge_field', 'score')}`) from {where}. Pairs with both scores: "
            f"{pairs['with_judge_score']} of {pairs['total']}."), ""]


def _inter_rater_lines(inter: dict | None, shown: bool) -> list[str]:
    """The inter-rater section, beside judge-human agreement: raters, shared units, alpha (or why there is none)."""
    if inter is None or not shown:
        return []
    names = ", ".join(inter["rater_names"][:20]) + (" ..." if len(inter["rater_names"]) > 20 else "")
    lines = ["", "## Inter-rater agreement (Krippendorff's alpha)", "",
             (f"Raters: {inter['raters']}" + (f" ({names})" if names else "") + f"; units {inter['unit']} rated by 2 "
              f"or more raters: {inter['shared_units']} of {inter['units']}.")]
    if inter["unnamed"]:
        lines[-1] += f" {inter['unnamed']} rating(s) name no rater and are left out."
    if inter["reason"]:
        return lines + ["", f"Not computed: {inter['reason']}."]
    boot = inter["bootstrap"]
    lines += [""] + markdown_table(["alpha", "value", "units"],
                                   [[level, _cell(inter[level]), inter[level]["n"]] for level in ("ordinal",
                                                                                                  "interval")])
    lines += ["", (f"Krippendorff's alpha (`krippendorff` package) over the {inter['ratings']} rating(s) of the shared "
                   f"units: 1 is perfect agreement, 0 what chance gives. [{boot['confidence']:.0%} percentile bootstrap "
                   f"interval over units, each with all its ratings, {boot['n_resamples']} resamples, seed "
                   f"{boot['seed']}.]")]
    return lines


def render_markdown(report: dict) -> str:
    """The validation report as Markdown: Table 2 (Pearson, then Spearman and Kendall), Table 3, probes, notes."""
    boot = report["bootstrap"]
    label = report["label"]
    lines = [f"# Judge validation: {label}", ""]
    star = False
    if report.get("agreement"):
        agreement = report["agreement"]
        layout, labels, columns = agreement["layout"], agreement["layout_labels"], agreement["columns"]
        lines += _source_lines(report)
        lines += ["## Judge-human agreement (the paper's Table 2 layout, Pearson)", ""]
        lines += markdown_table(["judge"] + [labels[c] for c in layout],
                                [[label] + [_cell(columns[c]["pearson"]) for c in layout],
                                 ["pairs"] + [columns[c]["pearson"]["n"] for c in layout]])
        lines += ["", "### Rank correlations", ""]
        lines += markdown_table(["correlation"] + [labels[c] for c in layout],
                                [[f"{label}: {KIND_LABELS[k]}"] + [_cell(columns[c][k]) for c in layout]
                                 for k in ("spearman", "kendall")])
        star = any(columns[c][k].get("ci_note") for c in layout for k in columns[c])
        lines += ["", (f"Correlation over (human, judge) pairs, each human score the mean of its raters; "
                       f"[{boot['confidence']:.0%} {boot['method']} bootstrap interval over pairs, human and judge "
                       f"resampled together, {boot['n_resamples']} resamples, seed {boot['seed']}]. `overall` pools "
                       f"every pair; `avg` is the mean of the column values (the paper's avg), its interval resampling "
                       f"each column on its own. {DASH}: not computed (reason in brackets; none: no pairs).")]
    lines += _inter_rater_lines(report.get("inter_rater"), report["agreement"] is not None)
    ranking = report.get("ranking")
    if ranking:
        lines += ["", "## System ranking (the paper's Table 3 layout)", ""]
        lines += markdown_table(["system", "judge score", "human score", "judge rank", "human rank", "items"],
                                [[r["system"], _num(r["judge_mean"]), _num(r["human_mean"]), r["judge_rank"],
                                  r["human_rank"], r["n"]] for r in ranking["systems"]])
        swapped = "; ".join(f"judge puts {a} above {b}, humans the other way" for a, b in ranking["swapped"])
        lines += ["", f"- Spearman between the rankings: {_cell(ranking['spearman'])}",
                  f"- Kendall between the rankings: {_cell(ranking['kendall'])}",
                  f"- swapped pairs of systems: {ranking['swapped_pairs']}" + (f" ({swapped})" if swapped else ""),
                  f"- pairs tied in one ranking only: {ranking['tied_pairs']}",
                  "", (f"Ranks: 1 = best. [{ranking['bootstrap']['confidence']:.0%} percentile bootstrap interval over "
                      f"items resampled within each system, {ranking['bootstrap']['n_resamples']} resamples.]")]
        star = star or any(ranking[k].get("ci_note") for k in ("spearman", "kendall"))
    inter = report.get("inter_rater") or {}
    star = star or any((inter.get(level) or {}).get("ci_note") for level in ("ordinal", "interval"))
    if star:
        lines += ["", "\\* the interval leaves out resamples whose scores were constant (see validation.json)."]
    probes = report.get("probes")
    if probes:
        lines += ["", "## Probes", "",
                  (f"{len(probes['rows'])} benchmark row(s); responses rendered by {probes['renderer']} in one voice; "
                  f"judge mode: {probes['judge'].get('mode') or 'unknown'}.")]
        if "style_hallucination" in probes:
            p = probes["style_hallucination"]
            lines += ["", "### Style hallucination", "",
                      (f"Expected of a judge that hears style in the voice: the tone changes between "
                      f"{p['styles'][0]} and {p['styles'][1]} renderings of the same words, and does not change "
                      f"between different words in one style."), ""]
            rows = []
            for key, name in (("contrasting_styles", f"same words, {p['styles'][0]} vs {p['styles'][1]}"),
                              ("same_style_different_words", f"different words, both {p['styles'][0]}")):
                c = p[key]
                rows.append([name, c["pairs"], f"{_rate(c['tone_changed_rate'])} (of {c['tone_pairs']})",
                             f"{_rate(c['score_changed_rate'])} (of {c['score_pairs']})",
                             _num(c["mean_abs_score_difference"])])
            lines += markdown_table(["comparison", "pairs", "tone changed", "score changed",
                                     "mean abs score difference"], rows)
            lines += ["", f"Missing scores: {p['missing_scores']}; missing tone descriptions: {p['missing_tone']}."]
        if "position_bias" in probes:
            p = probes["position_bias"]
            lines += ["", "### Position bias (clips swapped)", "",
                      f"- pairs with both scores: {p['score_pairs']} of {p['pairs']}",
                      f"- mean score difference (original - swapped): {_num(p['mean_score_difference'])}",
                      f"- mean absolute difference: {_num(p['mean_abs_score_difference'])}",
                      f"- agreement rate (equal scores): {_rate(p['agreement_rate'])}",
                      f"- missing scores: {p['missing_scores']}"]
        if "length_bias" in probes:
            p = probes["length_bias"]
            lines += ["", "### Length bias (padded with a neutral sentence)", "",
                      (f"- filler: \"{p['filler']}\"; mean duration {_num(p['mean_seconds_short'], 2)} s short, "
                      f"{_num(p['mean_seconds_padded'], 2)} s padded"),
                      f"- pairs with both scores: {p['score_pairs']} of {p['pairs']}",
                      f"- mean score difference (padded - short): {_num(p['mean_score_difference'])}",
                      (f"- padded scored higher: {_rate(p['padded_higher_rate'])}, lower: "
                      f"{_rate(p['padded_lower_rate'])}"),
                      f"- Pearson of response duration and score: {_cell(p['duration_score_correlation'])}",
                      f"- missing scores: {p['missing_scores']}"]
        probe_notes = [f"{name}: {note}" for name in PROBES if name in probes for note in probes[name]["notes"]]
        reasons = [f"{name}: missing scores: {r}" for name in PROBES if name in probes
                   for r in probes[name]["missing_reasons"]]
        if probe_notes or reasons:
            lines += ["", "Probe notes:", ""] + [f"- {n}" for n in probe_notes + reasons]
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def write_validation(report: dict, output_dir: str) -> dict[str, str]:
    """Write `validation.json` and `validation.md` to `output_dir`; returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    paths = {name: os.path.join(output_dir, name) for name in FILES}
    write_json(paths["validation.json"], report)
    write_atomic(paths["validation.md"], render_markdown(report).encode("utf-8"))
    return paths


# ---- the command ----

def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `parass2s validate-judge`."""
    parser = argparse.ArgumentParser(
        prog="parass2s validate-judge",
        description="Judge-human agreement (the paper's Tables 2 and 3) and probes of the judge's failure modes.",
        epilog=examples(__doc__), formatter_class=HelpFormatter)
    parser.add_argument("--ratings", help="ratings file (CSV or JSONL): id, human_score (1-5); optional system, "
                                          "dimension, subset, judge_score, sample, rater; or a folder of them, one "
                                          "per rater (every *.jsonl and *.csv inside)")
    parser.add_argument("--run", action="append", default=[], help="evaluation run folder with the judge's scores "
                                                                   "(repeat for several systems)")
    parser.add_argument("--judge_field", choices=JUDGE_FIELDS, default="score",
                        help="which run field is the judge's score (default score)")
    parser.add_argument("--output", default="validation", help="folder for validation.json and validation.md")
    parser.add_argument("--label", help="the judge's row label (default: its mode, from the runs)")
    parser.add_argument("--confidence", type=float, default=0.95, help="bootstrap confidence level (default 0.95)")
    parser.add_argument("--n_resamples", type=int, default=2000, help="bootstrap resamples (default 2000; 0: none)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--bootstrap_method", choices=["percentile", "BCa", "basic"], default="percentile",
                        help="interval method of pair-level correlations (default percentile; BCa falls back to "
                             "percentile where undefined)")
    probes = parser.add_argument_group("probes (with --probes)")
    probes.add_argument("--probes", action="store_true", help="run the style hallucination, position and length "
                                                              "bias probes with the judge below")
    probes.add_argument("--probe", action="append", choices=PROBES, help="run only this probe (repeatable)")
    probes.add_argument("--probe_rows", type=int, default=8, help="benchmark rows to probe (default 8)")
    probes.add_argument("--probe_config", default="sample", help="ParaS2SBench config of the rows (default sample)")
    probes.add_argument("--probe_data_dir", help="data_dir of the probe config (your own renders)")
    probes.add_argument("--renderer", default="espeak-ng", help="renderer of the probe responses (default espeak-ng)")
    probes.add_argument("--judge_mode", default="multistage", help="multistage, end2end or reward_model")
    probes.add_argument("--judge_audio_llm", help="audio LLM checkpoint")
    probes.add_argument("--judge_asr_model", help="ASR checkpoint")
    probes.add_argument("--judge_rubric_model", help="rubric LLM checkpoint (or API model name)")
    probes.add_argument("--judge_rubric_api_base", help="OpenAI-compatible endpoint of the rubric LLM")
    probes.add_argument("--judge_rubric_max_new_tokens", type=int, help="rubric / end2end generation budget")
    probes.add_argument("--judge_device_map", help="device map of the judge's models (e.g. auto)")
    add_config_file(parser)
    add_verbosity(parser)
    return dash_aliases(parser, RENAMED)


JUDGE_OPTIONS = {field: f"--judge_{field}" for field in ("audio_llm", "asr_model", "rubric_model", "rubric_api_base",
                                                          "rubric_max_new_tokens", "device_map")}
"""`JudgeConfig` field -> the option of this command that sets it (what preflight messages name): the same names as
`parass2s evaluate`'s judge options."""

RENAMED = {"--judge-asr": "--judge_asr_model", "--judge-max-new-tokens": "--judge_rubric_max_new_tokens"}
"""Flags of the previous release under their old names (deprecated aliases for one release)."""


def _judge_config_from_args(args):
    from ..judge import JudgeConfig

    kwargs = {"mode": args.judge_mode}
    for key, option in JUDGE_OPTIONS.items():
        value = getattr(args, option[2:])
        if value is not None:
            kwargs[key] = value
    return JudgeConfig(**kwargs)


def _judge_from_args(args):
    """The probes' judge, its models checked first (`models.preflight`): a model that is not there, or of the wrong
    kind, stops the command in a second with one line naming its option, before any row is prepared or rendered."""
    from ..judge import ParaS2SJudge
    from ..models import judge_checks, preflight

    config = _judge_config_from_args(args)
    preflight(judge_checks(config, prefix="--judge_", names=JUDGE_OPTIONS))
    return ParaS2SJudge(config)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `parass2s validate-judge`; returns the exit status (0 ok, 2 bad input)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(build_parser(), None if argv is None else list(argv))
    try:
        if not args.ratings and not args.probes:
            raise ValueError("give --ratings (agreement with human ratings) and/or --probes (the judge's failure "
                             "modes).")
        judge = renderer = rows = None
        if args.probes:
            from ..bench import load_parass2sbench
            from ..render import get_renderer

            judge = _judge_from_args(args)
            renderer = get_renderer(args.renderer)
            rows = probe_rows(load_parass2sbench(args.probe_config, split="test", data_dir=args.probe_data_dir),
                              args.probe_rows)
        report = validate_judge(args.ratings, args.run, judge_field=args.judge_field, label=args.label, judge=judge,
                                renderer=renderer, rows=rows, probes=args.probe or PROBES,
                                confidence=args.confidence, n_resamples=args.n_resamples, seed=args.seed,
                                method=args.bootstrap_method)
    except ValueError as e:  # bad input: one clear line, not a traceback
        print(f"parass2s validate-judge: error: {e}", file=sys.stderr)
        return 2
    paths = write_validation(report, args.output)
    with open(paths["validation.md"], encoding="utf-8") as f:
        print(f.read())
    return 0


__all__ = ["VERSION", "build_parser", "main", "render_markdown", "validate_judge", "write_validation"]
