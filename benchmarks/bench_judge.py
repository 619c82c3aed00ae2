"""Judge speed and model-call counts, on random models of a stated size (CPU here; a GPU when one is at hand), and
the served judge's requests per pair against a local vLLM-like server.

    python benchmarks/bench_judge.py                          # hidden 128, 2 layers, 32 pairs
    python benchmarks/bench_judge.py --hidden 256 --layers 4 --pairs 64 --write-results
    python benchmarks/bench_judge.py --modes served           # only the served stages (HTTP requests per pair)

For each mode: pairs per second (best of 2 runs, after a warm-up at each batch size) at batch 1, 8 and 32 and for the one-pair-at-a-time loop (one `score()` call per
pair, batch 1), and model calls and audio-encoder clips per pair, for distinct pairs and for a GRPO group (one query,
8 responses). Random models generate until their token budget, so multistage and end2end budgets are set small
(rubric 16, tone 8, ASR 8 tokens) and retries off: the figures measure the pipeline, not a real judge's answers.
"""

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--modes", nargs="+", default=["reward_model", "end2end", "multistage", "served"],
                        help="judge modes on local random models; 'served': every mode through a local vLLM-like server")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()

    import numpy as np
    import torch

    from parass2s_hf.judge import JudgeConfig, JudgeItem, ParaS2SJudge
    from parass2s_hf.models import ASRBackend, AudioLLMBackend, LoadSettings, TextLLMBackend
    from parass2s_hf.testing import build_tiny_audio_llm, build_tiny_text_llm, build_tiny_whisper

    device = f"CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "CPU"
    folder = tempfile.mkdtemp()
    paths = {"asr": build_tiny_whisper(os.path.join(folder, "w"), d_model=args.hidden),
             "audio_llm": build_tiny_audio_llm(os.path.join(folder, "a"), hidden_size=args.hidden, num_layers=args.layers),
             "text_llm": build_tiny_text_llm(os.path.join(folder, "t"), hidden_size=args.hidden, num_layers=args.layers)}
    n_params = sum(p.numel() for p in AudioLLMBackend(paths["audio_llm"], LoadSettings()).model.parameters())

    rng = np.random.default_rng(0)

    def clip(seconds):
        return (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)

    pairs = [JudgeItem(clip(2.0), clip(2.5), 16000, dimension="emotion", query_style="sad") for _ in range(args.pairs)]
    query = clip(2.0)
    group = [JudgeItem(query, clip(2.5), 16000, dimension="emotion", query_style="sad") for _ in range(8)]

    rows, calls = [], []
    for mode in [m for m in args.modes if m != "served"]:
        cfg = JudgeConfig(mode=mode, asr_model=paths["asr"], audio_llm=paths["audio_llm"],
                          rubric_model=paths["text_llm"], rubric_max_new_tokens=16, tone_max_new_tokens=8,
                          asr_max_new_tokens=8, max_retries=0, device_map="cuda" if torch.cuda.is_available() else None)
        settings = cfg.load_settings()  # shared by the backends: the batch sizes below change it for all of them
        backends = {"asr": ASRBackend(paths["asr"], settings, cfg.asr_max_new_tokens) if mode == "multistage" else None,
                    "audio_llm": AudioLLMBackend(paths["audio_llm"], settings) if mode != "reward_model" else None,
                    "rubric": TextLLMBackend(paths["text_llm"], settings) if mode == "multistage" else None,
                    "reward": AudioLLMBackend(paths["audio_llm"], settings) if mode == "reward_model" else None}

        def fresh(backends=backends, cfg=cfg, settings=settings):
            settings.batch_size = cfg.batch_size
            for b in backends.values():
                if b is not None:
                    b.stats.clear()
                    if getattr(b, "tower_cache", None) is not None:  # clips encoded by an earlier run: not this one's
                        b.tower_cache.clear()
            return ParaS2SJudge(cfg, **backends)

        def best_of(runs, fn):
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            return len(pairs) / min(times)

        for batch in args.batches:
            cfg.batch_size = batch
            fresh().score(pairs[:batch])  # warm-up at this shape
            rows.append((mode, f"batch {batch}", best_of(2, lambda: fresh().score(pairs))))
        cfg.batch_size = 1

        def loop():
            judge = fresh()
            for item in pairs:
                judge.score([item])

        rows.append((mode, "loop, one pair per call", best_of(2, loop)))

        cfg.batch_size = 8
        for label, items in (("distinct pairs", pairs), ("GRPO group (1 query, 8 responses)", group)):
            judge = fresh()
            judge.score(items)
            st = judge.stats()
            n = len(items)
            per = {name: st[name] for name in ("asr", "audio_llm", "rubric", "reward") if name in st}
            model_calls = sum(v.get("calls", 0) for v in per.values())
            # what the audio towers really encoded (an in-process audio LLM encodes a repeated clip once)
            clips = sum(v.get("audio_clips_encoded", v.get("audio_clips", 0)) for v in per.values())
            detail = ", ".join(f"{k} {v.get('calls', 0)} calls / {v.get('audio_clips', v.get('inputs', 0))} "
                               f"{'clips' if 'audio_clips' in v else 'prompts'}" for k, v in per.items())
            calls.append((mode, label, n, model_calls, clips / n, detail))

    served = served_requests(args, pairs, group) if "served" in args.modes else []
    header = (f"Device: {device}. Random models: audio LLM Qwen2-Audio architecture, hidden {args.hidden}, "
              f"{args.layers} layers ({n_params / 1e6:.2f} M parameters); Whisper d_model {args.hidden}; text LLM Qwen2 "
              f"hidden {args.hidden}. {args.pairs} pairs of 2.0 s + 2.5 s clips.")
    tables = []
    if rows:
        tables.append("| mode | run | pairs/s |\n|---|---|---|\n" + "\n".join(f"| {m} | {r} | {v:.2f} |" for m, r, v in rows))
        tables.append("| mode | input | pairs | model calls (batch 8) | audio clips encoded per pair | per backend |\n"
                      "|---|---|---|---|---|---|\n"
                      + "\n".join(f"| {m} | {l} | {n} | {c} | {a:.2f} | {d} |" for m, l, n, c, a, d in calls))
    if served:
        tables.append("Served (every stage through a local vLLM-like server on 127.0.0.1, `tests/vllm_stub.py`; HTTP "
                      "requests counted at the server, batch 8):\n\n| mode | input | pairs | requests | requests per pair"
                      " | per route |\n|---|---|---|---|---|---|\n"
                      + "\n".join(f"| {m} | {l} | {n} | {r} | {r / n:.2f} | {d} |" for m, l, n, r, d in served))
    print(header, *tables, sep="\n\n")
    if args.write_results:
        import transformers

        import parass2s_hf

        entry = (f"\n## bench_judge.py, {datetime.date.today().isoformat()}\n\n{header}\n"
                 f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores. Python {platform.python_version()}, "
                 f"parass2s_hf {parass2s_hf.__version__}, transformers {transformers.__version__}, torch {torch.__version__}.\n"
                 f"Command: `python benchmarks/bench_judge.py {' '.join(sys.argv[1:])}`\n\n" + "\n\n".join(tables) + "\n")
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"), "a", encoding="utf-8") as f:
            f.write(entry)


def served_requests(args, pairs, group) -> list:
    """Requests per pair of each judge mode served end to end, counted at a local vLLM-like server."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from vllm_stub import VLLMStub  # a test helper: the same server the served-judge tests run against

    from parass2s_hf.judge import JudgeConfig, ParaS2SJudge

    os.environ.setdefault("PARASS2S_BENCH_KEY", "EMPTY")
    out = []
    for mode in ("multistage", "end2end", "reward_model"):
        for label, items in (("distinct pairs", pairs), ("GRPO group (1 query, 8 responses)", group)):
            stub = VLLMStub(max_requests=10_000)
            with stub.serve() as url:
                cfg = JudgeConfig(mode=mode, asr_model="whisper", audio_llm="qwen2-audio", rubric_model="qwen2.5",
                                  asr_api_base=url, audio_llm_api_base=url, rubric_api_base=url,
                                  api_key_env="PARASS2S_BENCH_KEY", batch_size=8)
                ParaS2SJudge(cfg).score(items)
            routes = ", ".join(f"{path.rsplit('/v1/', 1)[-1]} {n}" for path, n in sorted(stub.requests.items()))
            out.append((mode, label, len(items), sum(stub.requests.values()), routes))
    return out


if __name__ == "__main__":
    main()
