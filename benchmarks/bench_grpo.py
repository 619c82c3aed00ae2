"""GRPO step cost of `ParaS2SGRPOTrainer`: its overhead over stock TRL, and where a spoken-prompt step spends its time.

    python benchmarks/bench_grpo.py                           # (a) 30 interleaved steps each, (b) 10 steps, 2 columns
    python benchmarks/bench_grpo.py --overhead-steps 50 --profile-steps 20 --no-4bit
    python benchmarks/bench_grpo.py --real-size               # + QLoRA on a 7B-sized random Qwen2-Audio (GPU only)
    python benchmarks/bench_grpo.py --write-results

(a) **Overhead where the subclass adds no function.** Text-only conversational prompts, a constant reward, the tiny
random Qwen2 text LM (`parass2s_hf.testing.build_tiny_checkpoints`): a `ParaS2SGRPOTrainer` and a stock `GRPOTrainer`
are built once each, from the same checkpoint with the same settings, and stepped alternately (which one goes first
alternates too), so machine noise hits both alike. Before each pair of steps the torch seed is reset, so both sample the
same completions. A step here is what `Trainer`'s inner loop does for one optimizer step: the next batch from
`get_train_dataloader()`, `training_step` (generation, reward, advantages, loss forward and backward), gradient
clipping, `optimizer.step()`, `lr_scheduler.step()`, `zero_grad()`. Bound: the median step of the subclass at most 15%
above the stock one's (PASS/FAIL), at `beta` 0 (no reference model) and 0.2 (reference log-probs on).

(b) **Split of a spoken-prompt step, before and after the speed-ups.** `ParaS2SGRPOTrainer` with the tiny Qwen2-Audio
as policy (LoRA r=4 on the language model's q/v projections), the tiny judge in reward_model mode, espeak-ng rendering,
4 prompts x 4 generations, beta 0.2. Two full-precision trainers stepped alternately (which goes first alternates too):
"before" (`cache_audio_tower=False`, `render_workers=1`) and "after" (`cache_audio_tower=True`, `render_workers` = the
cores available, or `--render-workers`); then a 4-bit (nf4, float32 compute) base with the "after" settings. Times per
step are taken by wrapping the trainer's own methods (`_encode_prompts`, `_generate_single_turn`,
`_get_per_token_logps_and_entropies` outside the loss, `_compute_loss`, `accelerator.backward`), a probe on the policy's
audio tower (inside the cache when it is on: only clips really encoded count), and the reward's `timings` (render,
judge). Medians over the measured steps, after one warm-up step. Targets: tower passes per step = distinct prompts,
tower time at least 8x less, rendering at least 1.6x less.

`--real-size` (CUDA only): a Qwen2-Audio-7B-sized config with random weights (saved once to a temporary folder, then
loaded by the trainer in NF4 with the audio tower, projector and head unquantised), the GPU recipe of
`examples/configs/grpo_qlora.yaml` (LoRA r=16 on the language model, bf16, gradient checkpointing, 8 generations,
128 completion tokens, beta 0.2); the reward is the tiny judge, so the memory is the policy's alone. Records step time
and `torch.cuda.max_memory_allocated`.
"""

import argparse
import datetime
import itertools
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager

from results_file import write_section  # benchmarks/ is the script's folder, on sys.path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
PRIVATE_HOME = None
if "HF_HOME" not in os.environ:  # a private cache: nothing read from or left in the user's
    os.environ["HF_HOME"] = PRIVATE_HOME = tempfile.mkdtemp(prefix="bench_grpo_hf_")
    os.environ["HF_DATASETS_CACHE"] = os.path.join(os.environ["HF_HOME"], "datasets")

SECTION = "## bench_grpo.py"
BOUND = 0.15
TOPICS = ("rain", "work", "music", "tea", "the sea", "a long day", "my cat", "the news", "winter", "a film", "cooking",
          "the bus", "a birthday", "sleep", "running", "a letter")
LORA_TARGETS = r".*language_model.*\.(q_proj|v_proj)"
RECIPE_LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def constant_reward(completions, **kwargs):
    return [1.0] * len(completions)


class Stepper:
    """Drives one trainer by hand, one optimizer step at a time, as `Trainer._inner_training_loop` does."""

    def __init__(self, trainer, max_steps):
        self.trainer = trainer
        trainer.create_optimizer_and_scheduler(num_training_steps=max_steps)
        trainer.current_gradient_accumulation_steps = 1
        self.model = trainer.model_wrapped
        self.model.train()
        self.batches = self._cycle(trainer.get_train_dataloader())

    @staticmethod
    def _cycle(loader):
        while True:
            yield from loader

    def step(self, timer=None):
        trainer, model = self.trainer, self.model
        timer = timer or Timer()
        with timer("data"):
            inputs = next(self.batches)
        with timer("training_step"):
            loss = trainer.training_step(model, inputs, None)
        with timer("optimizer"):
            if trainer.args.max_grad_norm > 0:
                trainer._clip_grad_norm(model)
            trainer.optimizer.step()
            trainer.lr_scheduler.step()
            model.zero_grad()
        trainer.state.global_step += 1
        return float(loss)


class Timer:
    """Inclusive seconds per named phase, with a stack saying which phases are open."""

    def __init__(self):
        self.seconds, self.stack = Counter(), []

    @contextmanager
    def __call__(self, name):
        self.stack.append(name)
        tic = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - tic
            self.stack.pop()

    def wrap(self, obj, attr, name):
        """Time every call of `obj.attr` (an instance attribute shadowing the method: `self.attr(...)` finds it)."""
        original = getattr(obj, attr)

        def timed(*args, **kwargs):
            with self(name(self) if callable(name) else name):
                return original(*args, **kwargs)

        setattr(obj, attr, timed)


def n_params(path):
    from safetensors import safe_open

    total = 0
    with safe_open(os.path.join(path, "model.safetensors"), "pt") as f:
        for key in f.keys():  # noqa: SIM118 - a safetensors handle, not a dict
            count = 1
            for d in f.get_slice(key).get_shape():
                count *= d
            total += count
    return total


def median(values):
    return statistics.median(values) if values else float("nan")


# ---- (a) overhead on text-only prompts ----
def overhead(tiny, folder, args, beta):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from parass2s_hf.align import ParaS2SGRPOConfig, ParaS2SGRPOTrainer

    data = Dataset.from_dict({"prompt": [[{"role": "system", "content": "You are a helpful voice assistant."},
                                          {"role": "user", "content": f"Tell me something about {t}."}]
                                         for t in TOPICS]})
    common = {"per_device_train_batch_size": args.text_batch, "num_generations": args.text_generations,
              "max_completion_length": args.text_tokens, "max_steps": args.overhead_steps + 1, "beta": beta,
              "learning_rate": 1e-3, "bf16": False, "use_cpu": True, "report_to": "none", "logging_steps": 10**6,
              "activation_checkpointing": False, "save_strategy": "no", "seed": args.seed}
    trainers = {
        "stock": GRPOTrainer(model=tiny["text_llm"], reward_funcs=[constant_reward], train_dataset=data,
                             args=GRPOConfig(output_dir=os.path.join(folder, "stock"), **common)),
        "parass2s": ParaS2SGRPOTrainer(model=tiny["text_llm"], reward_funcs=[constant_reward], train_dataset=data,
                                       args=ParaS2SGRPOConfig(output_dir=os.path.join(folder, "sub"), **common)),
    }
    steppers = {name: Stepper(t, args.overhead_steps + 1) for name, t in trainers.items()}
    times = {name: [] for name in trainers}
    losses = {name: [] for name in trainers}
    order = list(trainers)
    import torch

    for i in range(args.overhead_steps + 1):  # step 0: warm-up, not counted
        for name in order if i % 2 == 0 else order[::-1]:
            torch.manual_seed(args.seed + i)
            tic = time.perf_counter()
            losses[name].append(steppers[name].step())
            if i:
                times[name].append(time.perf_counter() - tic)
    assert trainers["parass2s"].audio_forwards == 0, "text prompts must take stock TRL's path"
    same = all(abs(a - b) < 1e-5 for a, b in zip(losses["stock"], losses["parass2s"]))
    stock, sub = median(times["stock"]), median(times["parass2s"])
    ratio = sub / stock
    # paired ratios too: each subclass step over the stock step it was interleaved with
    paired = median([s / b for s, b in zip(times["parass2s"], times["stock"])])
    return {"beta": beta, "stock": stock, "sub": sub, "ratio": ratio, "paired": paired, "n": len(times["stock"]),
            "same_losses": same, "pass": ratio <= 1 + BOUND}


# ---- (b) split of a spoken-prompt step ----
def spoken_prompts():
    """The spoken prompts of (b): ParaS2SBench `sample` (test split), the first 2 rows of each dimension."""
    import parass2s_hf

    prompts = parass2s_hf.load_parass2sbench("sample", split="test")
    by_dim = {}
    for i, d in enumerate(prompts["dimension"]):
        by_dim.setdefault(d, []).append(i)
    return prompts.select(sorted(itertools.chain.from_iterable(v[:2] for v in by_dim.values())))


def lora_config(r=4, alpha=8, targets=LORA_TARGETS, dropout=0.0):
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, lora_dropout=dropout)


def find_audio_tower(model):
    for name, module in model.named_modules():
        if name.endswith("audio_tower"):
            return module
    raise RuntimeError("the policy has no audio_tower module")


def instrument(trainer, timer, tower_clips):
    """Wrap the trainer's phases in `timer`; the policy's audio tower is timed per enclosing phase.

    With the trainer's audio-tower cache on, the probe wraps the tower's own forward *inside* the cache, so only the
    clips the tower really encodes are counted and timed (clips served from the cache cost nothing there)."""
    reward = trainer.reward_funcs[0]
    timer.wrap(trainer, "_encode_prompts", "encode_prompts")
    timer.wrap(trainer, "_generate_single_turn", "generation")
    timer.wrap(trainer, "_calculate_rewards", "reward")
    timer.wrap(trainer, "_compute_loss", "loss_forward")
    timer.wrap(trainer, "_get_per_token_logps_and_entropies",
               lambda t: "loss_logps" if "loss_forward" in t.stack else "ref_logps")
    timer.wrap(trainer.accelerator, "backward", "backward")
    timer.wrap(trainer, "_generate_and_score_completions", "generate_and_score")
    tower = find_audio_tower(trainer.model)

    def phase():
        return next((p for p in reversed(timer.stack) if p in ("generation", "ref_logps", "loss_logps")), "other")

    cache = getattr(tower, "_parass2s_cache", None)
    if cache is not None:
        encode = cache.original

        def timed(input_features, *args_, **kwargs_):
            where = phase()
            tower_clips[where] += int(input_features.shape[0])
            tic = time.perf_counter()
            try:
                return encode(input_features, *args_, **kwargs_)
            finally:
                timer.seconds[f"tower:{where}"] += time.perf_counter() - tic

        cache.original = timed
        return reward
    started = {}

    def pre(module, args_, kwargs_):
        started["tic"] = time.perf_counter()
        features = kwargs_.get("input_features", args_[0] if args_ else None)
        started["phase"] = phase()
        tower_clips[started["phase"]] += 0 if features is None else int(features.shape[0])

    def post(module, args_, kwargs_, output):
        timer.seconds[f"tower:{started['phase']}"] += time.perf_counter() - started["tic"]

    tower.register_forward_pre_hook(pre, with_kwargs=True)
    tower.register_forward_hook(post, with_kwargs=True)
    return reward


class Profile:
    """One column of (b): a `ParaS2SGRPOTrainer` on spoken prompts, stepped one measured step at a time."""

    def __init__(self, tiny, folder, args, judge, prompts, name, four_bit=False, cache=True, render_workers=None):
        import torch

        from parass2s_hf.align import ParaS2SGRPOConfig, ParaS2SGRPOTrainer

        quant = None
        if four_bit:
            from transformers import BitsAndBytesConfig

            quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                       bnb_4bit_compute_dtype=torch.float32)
        self.steps = args.profile_steps + 1
        self.seed = args.seed
        cfg = ParaS2SGRPOConfig(
            output_dir=os.path.join(folder, name), per_device_train_batch_size=16, num_generations=4,
            max_completion_length=args.audio_tokens, max_steps=self.steps, beta=0.2, learning_rate=1e-3, bf16=False,
            use_cpu=True, report_to="none", logging_steps=10**6, activation_checkpointing=False, save_strategy="no",
            seed=args.seed, cache_audio_tower=cache, render_workers=render_workers,
            judge_config={"mode": "reward_model", "audio_llm": tiny["audio_llm"]})
        self.trainer = ParaS2SGRPOTrainer(model=tiny["audio_llm"], args=cfg, train_dataset=prompts, judge=judge,
                                          peft_config=lora_config(), quantization_config=quant)
        self.stepper = Stepper(self.trainer, self.steps)
        self.timer, self.tower_clips = Timer(), Counter()
        self.reward = instrument(self.trainer, self.timer, self.tower_clips)
        self.rows, self.clips, self.lengths = [], [], []
        self.done = 0

    def step(self):
        """One step; the first one (warm-up) is not recorded."""
        import torch

        timer, reward, i = self.timer, self.reward, self.done
        timer.seconds.clear()
        self.tower_clips.clear()
        reward.timings.clear()
        torch.manual_seed(self.seed + i)
        with timer("step"):
            self.stepper.step(timer)
        self.done += 1
        if i == 0:
            return
        s = timer.seconds
        t = {"step": s["step"], "data": s["data"], "encode_prompts": s["encode_prompts"],
             "generation": s["generation"] - s["tower:generation"], "tower_generation": s["tower:generation"],
             "render": reward.timings["render"], "judge": reward.timings["judge"],
             "reward_other": s["reward"] - reward.timings["render"] - reward.timings["judge"],
             "ref_logps": s["ref_logps"] - s["tower:ref_logps"], "tower_ref": s["tower:ref_logps"],
             "loss_forward": s["loss_forward"] - s["tower:loss_logps"], "tower_loss": s["tower:loss_logps"],
             "backward": s["backward"], "optimizer": s["optimizer"]}
        t["gen_score_other"] = (s["generate_and_score"] - s["encode_prompts"] - s["generation"] - s["reward"]
                                - s["ref_logps"])
        t["other"] = t["step"] - sum(v for k, v in t.items() if k != "step")
        t["tower_all"] = t["tower_generation"] + t["tower_ref"] + t["tower_loss"]
        t["audio_total"] = t["encode_prompts"] + t["tower_all"]
        t["tower_clips"] = sum(self.tower_clips.values())
        self.rows.append(t)
        self.clips.append(dict(self.tower_clips))
        metrics = self.trainer._metrics["train"]
        self.lengths.append(metrics["completions/mean_length"][-1] if metrics.get("completions/mean_length")
                            else float("nan"))

    def result(self):
        result = {k: median([t[k] for t in self.rows]) for k in self.rows[0]}
        result["clips"] = self.clips[-1]
        result["mean_length"] = median(self.lengths)
        result["rewards_missing"] = sum(self.reward.missing.values())
        result["audio_forwards"] = self.trainer.audio_forwards
        result["workers"] = self.reward.render_workers
        result["distinct_prompts"] = 16 // self.trainer.num_generations
        return result


def interleaved(profiles):
    """Step the profiles in turn, alternating which goes first, so machine noise hits each alike."""
    names = list(profiles)
    for i in range(max(p.steps for p in profiles.values())):
        for name in names if i % 2 == 0 else names[::-1]:
            profiles[name].step()
    return {name: p.result() for name, p in profiles.items()}


# ---- real-size QLoRA (GPU) ----
def real_size(tiny, folder, args, judge, prompts):
    import torch

    if not torch.cuda.is_available():
        print("\n--real-size: no CUDA GPU here; the real-size QLoRA measurement was NOT run.")
        return None
    from transformers import (
        AutoProcessor,
        BitsAndBytesConfig,
        Qwen2AudioConfig,
        Qwen2AudioEncoderConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2Config,
    )

    from parass2s_hf.align import ParaS2SGRPOConfig, ParaS2SGRPOTrainer

    processor = AutoProcessor.from_pretrained(tiny["audio_llm"])
    tok = processor.tokenizer
    vocab = 156032  # Qwen2-Audio-7B's
    cfg = Qwen2AudioConfig(
        audio_config=Qwen2AudioEncoderConfig(num_mel_bins=128, encoder_layers=32, encoder_attention_heads=20,
                                             encoder_ffn_dim=5120, d_model=1280, max_source_positions=1500),
        text_config=Qwen2Config(vocab_size=vocab, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=8192,
                                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"))
    path = os.path.join(folder, "qwen2_audio_7b_random")
    tic = time.perf_counter()
    torch.manual_seed(args.seed)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cuda"):
            model = Qwen2AudioForConditionalGeneration(cfg)
    finally:
        torch.set_default_dtype(default)
    n_params = sum(p.numel() for p in model.parameters())
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(path)
    processor.save_pretrained(path)
    del model
    torch.cuda.empty_cache()
    build_s = time.perf_counter() - tic

    steps = args.real_steps + 1
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.bfloat16)
    # the tiny tokenizer knows ~400 ids: the rest of the 156k vocabulary is suppressed so the replies decode to text.
    # `suppress_tokens` replaces TRL's own list, which holds the audio placeholder: keep it, or a sampled placeholder
    # breaks the next forward ("Audio features and audio tokens do not match").
    suppress = [cfg.audio_token_index, *range(len(tok), vocab)]
    gen_cfg = ParaS2SGRPOConfig(
        output_dir=os.path.join(folder, "real"), per_device_train_batch_size=8, num_generations=8,
        max_completion_length=128, max_steps=steps, beta=0.2, learning_rate=1e-5, bf16=True,
        activation_checkpointing=True, report_to="none", logging_steps=10**6, save_strategy="no", seed=args.seed,
        model_init_kwargs={"dtype": "bfloat16"}, generation_kwargs={"suppress_tokens": suppress},
        judge_config={"mode": "reward_model", "audio_llm": tiny["audio_llm"]})
    torch.cuda.reset_peak_memory_stats()
    trainer = ParaS2SGRPOTrainer(model=path, args=gen_cfg, train_dataset=prompts, judge=judge, quantization_config=quant,
                                 peft_config=lora_config(16, 32, RECIPE_LORA_TARGETS, 0.05))
    loaded_gib = torch.cuda.memory_allocated() / 2**30
    stepper = Stepper(trainer, steps)
    times = []
    for i in range(steps):
        torch.cuda.synchronize()
        tic = time.perf_counter()
        stepper.step()
        torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - tic)
    return {"device": torch.cuda.get_device_name(0), "params": n_params, "build_s": build_s, "loaded_gib": loaded_gib,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30, "step_s": median(times), "steps": len(times)}


# ---- report ----
def espeak_version():
    import re
    import subprocess

    try:
        out = subprocess.run(["espeak-ng", "--version"], check=False, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    found = re.search(r"\d+\.\d+[\w.-]*", out)
    return f"espeak-ng {found.group(0) if found else '(version unknown)'}"


BEFORE = "before: no tower cache, 1 render worker"
AFTER = "after: tower cache, parallel rendering"


def ratio_cell(before, after, target):
    ratio = before / max(after, 1e-9)
    return f"{ratio:.2f}x less (>= {target:g}x: {'PASS' if ratio >= target else 'FAIL'})"


PROFILE_ROWS = [
    ("data (next batch of the dataloader)", "data"),
    ("audio prompts: decode + processor (`_encode_prompts`)", "encode_prompts"),
    ("generation (`model.generate`, without the audio tower)", "generation"),
    ("generation: audio tower", "tower_generation"),
    ("reward: rendering (espeak-ng)", "render"),
    ("reward: judge (reward model)", "judge"),
    ("reward: other (`_calculate_rewards` statistics)", "reward_other"),
    ("reference log-probs (beta 0.2, without the audio tower)", "ref_logps"),
    ("reference log-probs: audio tower", "tower_ref"),
    ("loss forward (`_compute_loss`, without the audio tower)", "loss_forward"),
    ("loss forward: audio tower", "tower_loss"),
    ("backward", "backward"),
    ("optimizer (clip, step, schedule)", "optimizer"),
    ("rest of `_generate_and_score_completions` (padding, decoding, advantages)", "gen_score_other"),
    ("other", "other"),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--overhead-steps", type=int, default=30, help="(a) measured steps of each trainer (>= 20)")
    parser.add_argument("--text-batch", type=int, default=8, help="(a) rows per step (prompts x generations)")
    parser.add_argument("--text-generations", type=int, default=4, help="(a) generations per prompt")
    parser.add_argument("--text-tokens", type=int, default=16, help="(a) max completion length")
    parser.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.2], help="(a) KL weights measured")
    parser.add_argument("--profile-steps", type=int, default=10, help="(b) measured steps per column")
    parser.add_argument("--audio-tokens", type=int, default=16, help="(b) max completion length")
    parser.add_argument("--no-4bit", action="store_true", help="(b) skip the 4-bit column")
    parser.add_argument("--render-workers", type=int, default=None,
                        help="(b) render workers of the 'after' columns (default: the cores available)")
    parser.add_argument("--real-size", action="store_true", help="QLoRA on a 7B-sized random model (CUDA only)")
    parser.add_argument("--real-steps", type=int, default=3, help="measured steps of --real-size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    if args.overhead_steps < 20:
        parser.error("--overhead-steps must be at least 20")

    import torch
    import transformers
    import trl

    import parass2s_hf
    from parass2s_hf.judge import JudgeConfig, ParaS2SJudge
    from parass2s_hf.testing import build_tiny_checkpoints

    transformers.logging.set_verbosity_error()
    folder = tempfile.mkdtemp(prefix="bench_grpo_")
    tiny = build_tiny_checkpoints(os.path.join(folder, "checkpoints"))
    sizes = {role: n_params(path) / 1e6 for role, path in tiny.items()}
    wall = time.perf_counter()

    # (a)
    overheads = [overhead(tiny, folder, args, beta) for beta in args.betas]
    head_a = ("| beta | stock `GRPOTrainer` step, median (ms) | `ParaS2SGRPOTrainer` step, median (ms) | ratio of medians "
              "| median of paired ratios | steps each | same losses | bound 1.15 |\n|---|---|---|---|---|---|---|---|")
    table_a = head_a + "\n" + "\n".join(
        f"| {o['beta']:g} | {1000 * o['stock']:.1f} | {1000 * o['sub']:.1f} | {o['ratio']:.3f} | {o['paired']:.3f} "
        f"| {o['n']} | {'yes' if o['same_losses'] else 'no'} | {'PASS' if o['pass'] else 'FAIL'} |" for o in overheads)
    print(table_a, flush=True)

    # (b)
    from parass2s_hf.render.parallel import default_render_workers

    prompts = spoken_prompts()
    judge = ParaS2SJudge(JudgeConfig(mode="reward_model", audio_llm=tiny["audio_llm"]))
    workers = args.render_workers or default_render_workers()
    columns = interleaved({
        BEFORE: Profile(tiny, folder, args, judge, prompts, "before", cache=False, render_workers=1),
        AFTER: Profile(tiny, folder, args, judge, prompts, "after", cache=True, render_workers=workers),
    })
    if not args.no_4bit:
        try:
            import bitsandbytes  # noqa: F401

            columns["4-bit base (nf4), as after"] = interleaved({"4bit": Profile(
                tiny, folder, args, judge, prompts, "after4", four_bit=True, render_workers=workers)})["4bit"]
        except ImportError:
            print("bitsandbytes is not installed: no 4-bit column")
    names = list(columns)
    head_b = ("| part of a step, ms (share of the step) | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))

    def cell(col, key):
        r = columns[col]
        return f"{1000 * r[key]:.1f} ({100 * r[key] / r['step']:.0f}%)"

    lines = [f"| {label} | " + " | ".join(cell(c, key) for c in names) + " |" for label, key in PROFILE_ROWS]
    lines.append("| **step (median)** | " + " | ".join(f"**{1000 * columns[c]['step']:.1f}**" for c in names) + " |")
    lines.append("| audio encoding, all (processor + audio tower in every forward) | "
                 + " | ".join(cell(c, "audio_total") for c in names) + " |")
    lines.append("| audio tower passes (clips encoded) per step: generation / reference / loss | " + " | ".join(
        "{} / {} / {}".format(*(columns[c]["clips"].get(p, 0) for p in ("generation", "ref_logps", "loss_logps")))
        for c in names) + " |")
    lines.append("| distinct prompts per step | " + " | ".join(str(columns[c]["distinct_prompts"]) for c in names)
                 + " |")
    lines.append("| completion tokens, median of mean per step | "
                 + " | ".join(f"{columns[c]['mean_length']:.1f}" for c in names) + " |")
    lines.append("| missing rewards (all steps) | " + " | ".join(str(columns[c]["rewards_missing"]) for c in names)
                 + " |")
    table_b = head_b + "\n" + "\n".join(lines)
    bf, af = columns[BEFORE], columns[AFTER]
    passes = sum(af["clips"].values())
    gains = [
        ("audio tower passes per step (target: distinct prompts)", f"{bf['tower_clips']:.0f}",
         f"{af['tower_clips']:.0f}", "PASS" if passes == af["distinct_prompts"] else "FAIL"),
        ("audio tower time per step, ms", f"{1000 * bf['tower_all']:.1f}", f"{1000 * af['tower_all']:.1f}",
         ratio_cell(bf["tower_all"], af["tower_all"], 8.0)),
        (f"rendering the step's 16 replies, ms ({workers} workers after)", f"{1000 * bf['render']:.1f}",
         f"{1000 * af['render']:.1f}", ratio_cell(bf["render"], af["render"], 1.6)),
        ("whole step, ms", f"{1000 * bf['step']:.1f}", f"{1000 * af['step']:.1f}",
         f"{bf['step'] / af['step']:.2f}x faster"),
    ]
    table_gain = ("| before vs after, medians | before | after | ratio (target) |\n|---|---|---|---|\n"
                  + "\n".join(f"| {x} | {y} | {z} | {r} |" for x, y, z, r in gains))
    print(table_b + "\n\n" + table_gain, flush=True)

    real = real_size(tiny, folder, args, judge, prompts) if args.real_size else None
    total = time.perf_counter() - wall
    shutil.rmtree(folder, ignore_errors=True)
    if PRIVATE_HOME:
        shutil.rmtree(PRIVATE_HOME, ignore_errors=True)

    cpu = "CPU" if not torch.cuda.is_available() else f"CPU (CUDA {torch.cuda.get_device_name(0)} unused for (a), (b))"
    header = (
        f"Device: {cpu}, {torch.get_num_threads()} torch threads. **Tiny random models** "
        f"(`parass2s_hf.testing.build_tiny_checkpoints`: Qwen2 text LM {sizes['text_llm']:.2f} M, Qwen2-Audio "
        f"{sizes['audio_llm']:.2f} M parameters): the figures are the trainer's own overhead plus espeak-ng, not the "
        f"cost of real 7B models. Steps driven by hand as `Trainer`'s inner loop does (next batch, `training_step`, "
        f"clip, optimizer and scheduler step); one warm-up step each, not counted. Benchmark wall {total:.0f} s."
    )
    header_a = (
        f"**(a) Overhead with text-only prompts** (no added function): tiny Qwen2 text LM, full fine-tune, "
        f"{len(TOPICS)} conversational prompts (system + user), constant reward 1.0, "
        f"{args.text_batch // args.text_generations} prompts x {args.text_generations} generations per step, "
        f"{args.text_tokens} completion tokens at most, the same seed before each pair of steps; "
        f"{args.overhead_steps} steps of each trainer, interleaved (alternating which goes first). "
        f"Bound: `ParaS2SGRPOTrainer` median step <= 1.15 x stock `GRPOTrainer` median step."
    )
    header_b = (
        f"**(b) A step with spoken prompts, before and after the speed-ups**: `ParaS2SGRPOTrainer`, tiny Qwen2-Audio "
        f"policy with LoRA r=4 (language model q/v), the tiny Qwen2-Audio judge in reward_model mode, espeak-ng "
        f"renderer, 4 prompts x 4 generations from ParaS2SBench `sample` (test split, 2 per dimension), "
        f"{args.audio_tokens} completion tokens at most (random models rarely stop early), beta 0.2. Before: no "
        f"audio-tower cache, replies rendered one after another; after: the tower cache on, {workers} render workers; "
        f"the before and after trainers stepped alternately in one run. Medians of {args.profile_steps} steps per "
        f"column; each row is the median of that part, so the rows need not add up to the median step exactly. Audio "
        f"tower rows: the clips the policy's audio tower really encodes (a probe inside the cache), taken out of the row "
        f"above it. The Qwen2-Audio feature extractor pads every prompt to 30 s (3000 mel frames), so a tower clip "
        f"costs the same whatever its length."
    )
    if real is None:
        note_real = ("**Real-size QLoRA** (`--real-size`: Qwen2-Audio-7B-sized random model, NF4, LoRA r=16, "
                     "8 generations x 128 tokens, peak memory and step time): "
                     + ("not run (no GPU lent to this session)." if not torch.cuda.is_available()
                        else "not run (--real-size not given)."))
    else:
        note_real = (
            f"**Real-size QLoRA** on {real['device']}: random Qwen2-Audio-7B-sized model ({real['params'] / 1e9:.2f} B "
            f"parameters; built and saved in {real['build_s']:.0f} s), NF4 base with double quantisation, audio tower, "
            f"projector and head in bf16, LoRA r=16 on the language model, bf16, gradient checkpointing, one micro-batch of "
            f"the recipe per step (1 prompt x 8 generations, no gradient accumulation), 128 completion tokens, beta "
            f"0.2; reward by the tiny judge (the policy's memory only).\n\n"
            f"| policy loaded (GiB) | peak allocated (GiB) | step, median of {real['steps']} (s) |\n|---|---|---|\n"
            f"| {real['loaded_gib']:.1f} | {real['peak_gib']:.1f} | {real['step_s']:.1f} |")
    print("\n" + header + "\n\n" + header_a + "\n\n" + header_b + "\n\n" + note_real)
    if args.write_results:
        import peft

        versions = (f"Python {platform.python_version()}, parass2s_hf {parass2s_hf.__version__}, trl {trl.__version__}, "
                    f"transformers {transformers.__version__}, peft {peft.__version__}, torch {torch.__version__}, "
                    f"{bnb_version()}, {espeak_version()}")
        entry = (f"\n{SECTION}, {datetime.date.today().isoformat()}\n\n{header}\n"
                 f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores. {versions}.\n"
                 f"Command: `python benchmarks/bench_grpo.py {' '.join(sys.argv[1:])}`\n\n{header_a}\n\n{table_a}\n\n"
                 f"{header_b}\n\n"
                 f"{table_b}\n\n{table_gain}\n\n{note_real}\n")
        path = write_section(SECTION, entry)
        print(f"written to {path}")


def bnb_version():
    try:
        import bitsandbytes

        return f"bitsandbytes {bitsandbytes.__version__}"
    except ImportError:
        return "no bitsandbytes"


if __name__ == "__main__":
    main()
