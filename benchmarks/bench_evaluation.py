"""Time per item of an evaluation run of the cascade, split into generation, perception and scoring (CPU).

    python benchmarks/bench_evaluation.py                     # sample config (48 rows), 3 runs per judge mode
    python benchmarks/bench_evaluation.py --limit 4 --repeats 1 --judge-modes multistage
    python benchmarks/bench_evaluation.py --write-results

The cascade (Whisper -> text LLM -> espeak-ng) runs through the real `EvaluationRunner` on the shipped `sample`
config of ParaS2SBench, judged by `ParaS2SJudge`. The models are TINY RANDOM checkpoints built offline by
`parass2s_hf.testing.build_tiny_checkpoints`: the figures are the pipeline's own overhead plus espeak-ng rendering, not
the cost of real 7B models. Random models never stop early, so every generation runs its whole token budget
(`--max-new-tokens`, the same for the cascade's ASR and reply and the judge's ASR, tone and rubric); rubric retries
are off (a random answer never holds a score, so each retry would redo the rubric).

Per judge mode: the models load and a warm-up run (`--limit 1`, a throwaway folder) is done first with the same
system and judge objects; then the stage timers are reset and `--repeats` runs go into fresh folders (median of each
figure). Each run is followed by a rerun of its finished folder (resume: no generation or judging, only the report).

Random models answer every query alike, so all responses are the same clip and the judge's perception cache would
perceive one response per run. Real responses differ; so by default the judge here perceives every clip
(`--perception-cache` keeps the judge's own cache).
"""

import argparse
import datetime
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

from results_file import write_section  # benchmarks/ is the script's folder, on sys.path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SCORING_STAGE = {"multistage": "rubric", "end2end": "end2end", "reward_model": "reward_model"}
PERCEPTION_STAGES = ("asr", "tone", "query_style")
SECTION = "## bench_evaluation.py"


def n_params(path):
    from safetensors import safe_open

    total = 0
    with safe_open(os.path.join(path, "model.safetensors"), "pt") as f:
        for key in f.keys():  # noqa: SIM118 - a safetensors handle, not a dict
            shape = f.get_slice(key).get_shape()
            count = 1
            for d in shape:
                count *= d
            total += count
    return total


def distinct_responses(folder):
    responses = os.path.join(folder, "responses")
    digests = set()
    for name in os.listdir(responses) if os.path.isdir(responses) else []:
        with open(os.path.join(responses, name), "rb") as f:
            digests.add(hashlib.sha256(f.read()).hexdigest())
    return len(digests)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None, help="at most N queries per subset (all 48 rows when unset)")
    parser.add_argument("--batch-size", type=int, default=8, help="runner batch; also the system's and judge's batch")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="token budget of every generation stage")
    parser.add_argument("--repeats", type=int, default=3, help="measured runs per judge mode (median)")
    parser.add_argument("--judge-modes", nargs="+", default=["multistage", "reward_model"],
                        choices=list(SCORING_STAGE))
    parser.add_argument("--n-resamples", type=int, default=2000, help="bootstrap resamples of the report")
    parser.add_argument("--max-retries", type=int, default=0, help="rubric retries (a random answer never parses)")
    parser.add_argument("--perception-cache", action="store_true",
                        help="keep the judge's perception cache (identical random responses are then perceived once)")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()

    import torch
    import transformers

    from parass2s_hf.evaluation import EvaluationConfig, EvaluationRunner
    from parass2s_hf.judge import JudgeConfig, ParaS2SJudge
    from parass2s_hf.judge.perception import PerceptionCache
    from parass2s_hf.s2s import build_system
    from parass2s_hf.testing import build_tiny_checkpoints

    transformers.logging.set_verbosity_error()

    class EveryClip(PerceptionCache):
        """No reuse across clips: every clip is perceived, as distinct real responses would be."""

        def run(self, stage, clips, compute):
            return list(compute(list(clips)))

    folder = tempfile.mkdtemp(prefix="bench_evaluation_")
    tic = time.perf_counter()
    tiny = build_tiny_checkpoints(os.path.join(folder, "checkpoints"))
    build_s = time.perf_counter() - tic
    sizes = {role: n_params(path) / 1e6 for role, path in tiny.items()}
    budget = args.max_new_tokens
    tic = time.perf_counter()
    system = build_system("cascade", asr=tiny["asr"], llm=tiny["text_llm"], tts="espeak-ng", max_new_tokens=budget,
                          asr_max_new_tokens=budget, batch_size=args.batch_size)
    system_load_s = time.perf_counter() - tic
    counter = iter(range(10**6))

    def evaluate(judge, limit):
        """One run into a fresh folder, then the rerun of that finished folder; seconds per stage."""
        system.timings.clear()
        judge.timings.clear()
        judge.cache = PerceptionCache() if args.perception_cache else EveryClip()
        cfg = EvaluationConfig(output_dir=os.path.join(folder, f"run{next(counter)}"), dataset_config="sample",
                               dataset_cache_dir=os.path.join(folder, "datasets"), batch_size=args.batch_size,
                               n_resamples=args.n_resamples, limit=limit)
        runner = EvaluationRunner(system, judge, cfg)
        tic = time.perf_counter()
        runner.run()
        wall = time.perf_counter() - tic
        with open(os.path.join(cfg.output_dir, "results.jsonl"), encoding="utf-8") as f:
            n = sum(1 for line in f if line.strip())
        t = {"wall": wall, "generate": runner.timings["generate"], "judge": runner.timings["judge"],
             "report": runner.timings["report"], "hits": judge.cache.hits, "distinct": distinct_responses(cfg.output_dir)}
        for stage in ("asr", "llm", "tts"):
            t[f"gen_{stage}"] = system.timings[stage]
        t["gen_other"] = t["generate"] - sum(system.timings.values())
        for stage in PERCEPTION_STAGES:
            t[f"judge_{stage}"] = judge.timings[stage]
        t["perception"] = sum(judge.timings[s] for s in PERCEPTION_STAGES)
        t["scoring"] = judge.timings[SCORING_STAGE[judge.config.mode]]
        t["judge_other"] = t["judge"] - sum(judge.timings.values())
        t["runner_other"] = wall - t["generate"] - t["judge"] - t["report"]
        t["items_per_s"] = n / wall

        before = sum(system.timings.values()) + sum(judge.timings.values())
        again = EvaluationRunner(system, judge, cfg)
        tic = time.perf_counter()
        again.run()
        t["resume"] = time.perf_counter() - tic
        t["resume_work"] = (again.timings["generate"] + again.timings["judge"]
                            + sum(system.timings.values()) + sum(judge.timings.values()) - before)
        return n, t

    columns, warmups = {}, {}
    for mode in args.judge_modes:
        judge = ParaS2SJudge(JudgeConfig(
            mode=mode, asr_model=tiny["asr"], audio_llm=tiny["audio_llm"], rubric_model=tiny["text_llm"],
            asr_max_new_tokens=budget, tone_max_new_tokens=budget, rubric_max_new_tokens=budget,
            max_retries=args.max_retries, batch_size=args.batch_size))
        n_warm, warm = evaluate(judge, 1)
        warmups[mode] = (n_warm, warm["wall"])
        runs = [evaluate(judge, args.limit) for _ in range(args.repeats)]
        n = runs[0][0]
        columns[mode] = (n, {k: statistics.median(t[k] for _, t in runs) for k in runs[0][1]})
    shutil.rmtree(folder, ignore_errors=True)

    rows = [
        ("**generation** (`system.respond`)", "generate"),
        ("generation: ASR (Whisper)", "gen_asr"),
        ("generation: LLM reply", "gen_llm"),
        ("generation: TTS (espeak-ng)", "gen_tts"),
        ("generation: other", "gen_other"),
        ("**judge** (`judge.score`)", "judge"),
        ("judge: perception (ASR + tone + query style)", "perception"),
        ("judge: perception: ASR (Whisper)", "judge_asr"),
        ("judge: perception: tone (audio LLM)", "judge_tone"),
        ("judge: perception: query style", "judge_query_style"),
        ("judge: scoring (rubric LLM / reward model)", "scoring"),
        ("judge: other (loading the clips)", "judge_other"),
        ("**report** (bootstrap, report.md/json/png, manifest)", "report"),
        ("**runner other** (dataset, query decoding, FLAC writing, logs)", "runner_other"),
        ("**end-to-end wall**", "wall"),
    ]
    modes = list(columns)
    head = ("| stage, ms/item (share of wall) | " + " | ".join(f"{m} judge" for m in modes) + " |\n|---|"
            + "---|" * len(modes))

    def cell(mode, key):
        n, t = columns[mode]
        if mode != "multistage" and key in ("perception", "judge_asr", "judge_tone", "judge_query_style"):
            return "-"
        return f"{1000 * t[key] / n:.1f} ({100 * t[key] / t['wall']:.0f}%)"

    lines = [f"| {label} | " + " | ".join(cell(m, key) for m in modes) + " |" for label, key in rows]
    lines.append("| **items/s** | " + " | ".join(f"{columns[m][1]['items_per_s']:.2f}" for m in modes) + " |")
    lines.append("| resume: rerun of the finished folder, ms/item (total s) | " + " | ".join(
        f"{1000 * columns[m][1]['resume'] / columns[m][0]:.1f} ({columns[m][1]['resume']:.2f} s)" for m in modes)
        + " |")
    lines.append("| resume: generation + judging redone (s) | "
                 + " | ".join(f"{columns[m][1]['resume_work']:.3f}" for m in modes) + " |")
    lines.append("| distinct response clips / items | " + " | ".join(
        f"{columns[m][1]['distinct']:.0f} / {columns[m][0]}" for m in modes) + " |")
    table = head + "\n" + "\n".join(lines)

    n_items = columns[modes[0]][0]
    limit = f", --limit {args.limit} per subset" if args.limit else ""
    header = (
        f"Device: CPU ({torch.get_num_threads()} torch threads). Cascade (Whisper -> text LLM -> espeak-ng) through "
        f"`EvaluationRunner` on ParaS2SBench `sample` ({n_items} items{limit}), batch {args.batch_size}.\n"
        f"**Tiny random models** (`parass2s_hf.testing.build_tiny_checkpoints`: Whisper {sizes['asr']:.2f} M, "
        f"Qwen2 text LLM {sizes['text_llm']:.2f} M, Qwen2-Audio {sizes['audio_llm']:.2f} M parameters): the figures "
        f"are the pipeline's own overhead plus espeak-ng rendering, not the cost of real 7B models. Random models never "
        f"stop early: every generation runs its whole budget of {budget} new tokens (cascade ASR and reply; judge ASR, "
        f"tone, rubric); rubric retries {args.max_retries}. The sample rows carry their text and style label, so the "
        f"judge transcribes only the responses and asks nothing about the query's style. "
        + ("Judge perception cache on (identical random responses are perceived once). " if args.perception_cache
           else "Judge perception cache off: every response is perceived, as distinct real responses would be. ")
        + f"Medians of {args.repeats} run(s) into fresh folders; {args.n_resamples} bootstrap resamples.\n"
        f"One-time costs, not in the table: tiny checkpoints built in {build_s:.1f} s; cascade loaded in "
        f"{system_load_s:.2f} s; warm-up run per judge mode (--limit 1, judge models loading, first espeak-ng call, "
        f"first report): " + ", ".join(f"{m} {s:.1f} s for {k} items" for m, (k, s) in warmups.items()) + "."
    )
    print(header, table, sep="\n\n")
    if args.write_results:
        import parass2s_hf

        entry = (f"\n{SECTION}, {datetime.date.today().isoformat()}\n\n{header}\n"
                 f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores. Python {platform.python_version()}, "
                 f"parass2s_hf {parass2s_hf.__version__}, transformers {transformers.__version__}, "
                 f"torch {torch.__version__}, {espeak_version()}.\n"
                 f"Command: `python benchmarks/bench_evaluation.py {' '.join(sys.argv[1:])}`\n\n{table}\n")
        path = write_section(SECTION, entry)
        print(f"written to {path}")


def espeak_version():
    import re
    import subprocess

    try:
        out = subprocess.run(["espeak-ng", "--version"], check=False, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    found = re.search(r"\d+\.\d+[\w.-]*", out)
    return f"espeak-ng {found.group(0) if found else '(version unknown)'}"


if __name__ == "__main__":
    main()
