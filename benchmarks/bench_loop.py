"""Wall time per stage of the ParaS2SAlign loop recipe (`examples/parass2s_loop.py`) on CPU with tiny checkpoints.

    python benchmarks/bench_loop.py                  # runs examples/configs/loop_cpu_smoke.yaml in a fresh folder
    python benchmarks/bench_loop.py --write-results

The recipe runs from an empty folder (a fresh Hugging Face cache: the train prompts are rendered once, inside the
first stage that needs them) as `python examples/parass2s_loop.py --config examples/configs/loop_cpu_smoke.yaml`
would; the stage times are the loop's own `loop.json`. A rerun of the finished loop is timed too (every stage skipped,
the leaderboard written again). Tiny random models: the times are the pipeline's overhead (process start-up, model
loading, espeak-ng, bootstrap), not a 7B model's cost.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from results_file import write_section  # benchmarks/ is the script's folder, on sys.path

SECTION = "## bench_loop.py"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench_loop_")
    os.symlink(os.path.join(REPO, "examples"), os.path.join(work, "examples"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": os.path.join(work, "hf")}
    subprocess.run([sys.executable, "-m", "parass2s_hf.testing", "tiny/"], cwd=work, env=env, check=True,
                   capture_output=True)
    command = [sys.executable, "examples/parass2s_loop.py", "--config", "examples/configs/loop_cpu_smoke.yaml"]
    tic = time.perf_counter()
    subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)
    total = time.perf_counter() - tic
    tic = time.perf_counter()
    subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)
    rerun = time.perf_counter() - tic
    with open(os.path.join(work, "runs", "loop-cpu", "loop.json")) as f:
        stages = json.load(f)
    for stage, info in stages.items():
        print(f"{stage}: {info['seconds']:.1f} s")
    print(f"total {total:.1f} s; rerun (all stages skipped) {rerun:.1f} s")

    from importlib.metadata import version

    rows = "\n".join(f"| {stage} | {info['seconds']:.1f} |" for stage, info in stages.items())
    entry = (f"\n{SECTION}, {datetime.date.today().isoformat()}\n\n"
             f"The CPU loop recipe (`examples/configs/loop_cpu_smoke.yaml`: SFT on 4 train prompts, 2 samples of each "
             f"scored by the teacher, the reward model distilled from them, 2 GRPO steps, base/SFT/GRPO each evaluated "
             f"on 4 test queries, the leaderboard) from an empty folder, tiny random checkpoints; each stage is its own "
             f"process. Seconds, wall.\n"
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores. Python {platform.python_version()}, "
             f"parass2s_hf {version('parass2s_hf')}, transformers {version('transformers')}, trl {version('trl')}, "
             f"torch {version('torch')}.\n"
             f"Command: `python benchmarks/bench_loop.py --write-results`\n\n"
             f"| stage | seconds |\n|---|---|\n{rows}\n| **whole loop** | {total:.1f} |\n"
             f"| rerun of the finished loop (every stage skipped) | {rerun:.1f} |\n")
    if args.write_results:
        print("written to", write_section(SECTION, entry))


if __name__ == "__main__":
    main()
