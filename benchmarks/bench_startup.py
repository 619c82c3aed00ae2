"""Start-up times of the command line, each in a fresh Python process (CPU, offline).

    python benchmarks/bench_startup.py                  # 5 repeats of each command, medians
    python benchmarks/bench_startup.py --write-results

What a user waits for before anything happens, or for a command that has nothing to do:
- `import parass2s_hf` (it must not import evaluate or transformers: the metric's name hook waits for evaluate);
- `parass2s --version` and `--help` (target: under 2 s), and `parass2s evaluate --help`;
- a wrong setting found by the start-up checks (`parass2s evaluate` with a checkpoint that is not there);
- the rerun of a finished run (no model loaded; the report is reused when nothing it is computed from changed);
- `parass2s report RUN` (the report rebuilt from a run folder, no models).
The run is the cascade of tiny random checkpoints (`parass2s_hf.testing`) on one query per subset of `sample`.
"""

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from results_file import write_section  # benchmarks/ is the script's folder, on sys.path

SECTION = "## bench_startup.py"


def timed(argv, env, expect=0):
    tic = time.perf_counter()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - tic
    if out.returncode != expect:
        raise SystemExit(f"{' '.join(argv)} exited {out.returncode}, expected {expect}:\n{out.stderr[-2000:]}")
    return seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="bench_startup_")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": os.path.join(work, "hf")}
    py = sys.executable
    subprocess.run([py, "-m", "parass2s_hf.testing", os.path.join(work, "tiny")], env=env, check=True,
                   capture_output=True)
    tiny = os.path.join(work, "tiny")
    run = os.path.join(work, "run")
    evaluate = [py, "-m", "parass2s_hf.cli", "evaluate", "--system", "cascade", "--asr", f"{tiny}/whisper",
                "--llm", f"{tiny}/qwen2", "--max_new_tokens", "8", "--dataset_config", "sample", "--limit", "1",
                "--judge_mode", "reward_model", "--judge_audio_llm", f"{tiny}/qwen2_audio", "--output", run]
    first = timed(evaluate, env)
    commands = {
        "`import parass2s_hf`": ([py, "-c", "import parass2s_hf"], 0),
        "`parass2s --version`": ([py, "-m", "parass2s_hf.cli", "--version"], 0),
        "`parass2s --help`": ([py, "-m", "parass2s_hf.cli", "--help"], 0),
        "`parass2s evaluate --help` (the parser of transformers' HfArgumentParser)":
            ([py, "-m", "parass2s_hf.cli", "evaluate", "--help"], 0),
        "a wrong setting found at start-up (`--asr` not there; exit 2)":
            ([*evaluate[:6], os.path.join(work, "no_such_model"), *evaluate[7:-1], os.path.join(work, "other")], 2),
        "rerun of the finished run (no model loaded, report reused)": (evaluate, 0),
        "`parass2s report RUN` (report rebuilt, no models)":
            ([py, "-m", "parass2s_hf.cli", "report", run], 0),
    }
    medians = {}
    for name, (argv, code) in commands.items():
        times = [timed(argv, env, code) for _ in range(args.repeats)]
        medians[name] = (statistics.median(times), min(times), max(times))
        print(f"{name}: median {medians[name][0]:.2f} s (min {medians[name][1]:.2f}, max {medians[name][2]:.2f})")

    from importlib.metadata import version

    rows = "\n".join(f"| {name} | {m:.2f} | {lo:.2f} | {hi:.2f} |" for name, (m, lo, hi) in medians.items())
    entry = (f"\n{SECTION}, {datetime.date.today().isoformat()}\n\n"
             f"Each command in a fresh Python process, offline, {args.repeats} repeats (seconds, wall). The run: the "
             f"cascade of tiny random checkpoints on `sample --limit 1`, judged in `reward_model` mode (its first run "
             f"took {first:.1f} s, models loading included).\n"
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores. Python {platform.python_version()}, "
             f"parass2s_hf {version('parass2s_hf')}, transformers {version('transformers')}, torch {version('torch')}, "
             f"evaluate {version('evaluate')}, datasets {version('datasets')}.\n"
             f"Command: `python benchmarks/bench_startup.py --write-results`\n\n"
             f"| command | median s | min s | max s |\n|---|---|---|---|\n{rows}\n")
    if args.write_results:
        print("written to", write_section(SECTION, entry))


if __name__ == "__main__":
    main()
