"""Prepare time, rows per second and cached reload time of ParaS2SBench configs.

    python benchmarks/bench_dataset.py                       # sample and synthetic
    python benchmarks/bench_dataset.py --configs sample --write-results

Each config is prepared in a fresh cache folder (offline), then loaded again from that cache. The one-time
import of torchcodec/FFmpeg is done before timing. With --write-results the table is appended to
benchmarks/RESULTS.md with the machine, versions, date and command.
"""

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run(configs):
    import datasets
    import torchcodec.encoders  # noqa: F401 - one-time import, not part of preparing

    import parass2s_hf

    rows = []
    for config in configs:
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            dd = parass2s_hf.load_parass2sbench(config, cache_dir=cache)
            prepare = time.perf_counter() - t0
            n = sum(len(split) for split in dd.values())
            t0 = time.perf_counter()
            again = parass2s_hf.load_parass2sbench(config, cache_dir=cache)
            reload = time.perf_counter() - t0
            assert sum(len(s) for s in again.values()) == n
            t0 = time.perf_counter()
            for split in again.values():
                for row in split:
                    row["audio"].get_all_samples()
            decode = time.perf_counter() - t0
            rows.append((config, n, prepare, n / prepare, reload, n / decode))
    header = ("| config | rows | prepare (s) | prepare rows/s | cached reload (s) | decode rows/s |\n"
              "|---|---|---|---|---|---|")
    table = "\n".join(f"| {c} | {n} | {p:.1f} | {r:.1f} | {l:.2f} | {d:.0f} |" for c, n, p, r, l, d in rows)
    return header + "\n" + table, datasets


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", nargs="+", default=["sample", "synthetic"])
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    table, datasets = run(args.configs)
    print(table)
    if args.write_results:
        import multiprocessing

        import torch

        import parass2s_hf
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        entry = (
            f"\n## bench_dataset.py, {datetime.date.today().isoformat()}\n\n"
            f"Machine: {platform.machine()}, {multiprocessing.cpu_count()} CPU cores, {mem_gb:.0f} GiB RAM, no GPU. "
            f"Python {platform.python_version()}, parass2s_hf {parass2s_hf.__version__}, datasets {datasets.__version__}, "
            f"torch {torch.__version__}.\n"
            f"Command: `python benchmarks/bench_dataset.py {' '.join(sys.argv[1:])}`\n\n{table}\n"
        )
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
        new = not os.path.exists(path)
        with open(path, "a", encoding="utf-8") as f:
            if new:
                f.write("# Benchmark results\n\nSpeed and memory measured by the scripts in this folder; newest last.\n")
            f.write(entry)
        print(f"appended to {path}")


if __name__ == "__main__":
    main()
