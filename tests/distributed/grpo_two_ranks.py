"""Run by `tests/test_distributed.py` under `torchrun --nproc_per_node 2`: two GRPO steps of the tiny audio LLM with
spoken prompts under DDP (gloo, CPU). The judge scores by the reply's length and leaves the first reply of every call
on rank 1 unscored (a missing reward); each rank writes what it saw to `<out>/rank<k>.json`."""

import hashlib
import json
import os
import sys

import torch

from parass2s_hf import load_parass2sbench
from parass2s_hf.align import ParaS2SGRPOConfig, ParaS2SGRPOTrainer
from parass2s_hf.judge import JudgeConfig, JudgeResult


class RankJudge:
    def __init__(self, rank):
        self.config = JudgeConfig(mode="reward_model")
        self.rank, self.missing = rank, 0

    def score(self, items):
        out = []
        for k, item in enumerate(items):
            if self.rank == 1 and k == 0:
                self.missing += 1
                out.append(JudgeResult(status="missing", reason="scripted: no score"))
                continue
            value = 1.0 + (len(item.response_audio) % 400) / 100.0
            out.append(JudgeResult(score=round(value), score_expected=value, status="ok"))
        return out


def lora_digest(model) -> str:
    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters()):
        if "lora_" in name:
            digest.update(name.encode())
            digest.update(param.detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()


def main(tiny_audio_llm: str, out: str) -> None:
    from peft import LoraConfig

    rank = int(os.environ["RANK"])
    ids = ["emotion-test-0001-happy", "sarcasm-test-0001-sarcastic", "age-test-0001-child", "gender-test-0001-female"]
    from accelerate import PartialState

    with PartialState().main_process_first():  # one process prepares the dataset cache, the other then reads it
        rows = load_parass2sbench("sample", split="test")
    index = {rid: i for i, rid in enumerate(rows["id"])}
    prompts = rows.select([index[i] for i in ids])
    args = ParaS2SGRPOConfig(output_dir=os.path.join(out, "run"), per_device_train_batch_size=2, num_generations=4,
                             max_completion_length=8, max_steps=2, bf16=False, use_cpu=True, report_to="none",
                             logging_steps=1, learning_rate=1e-2, activation_checkpointing=False, save_strategy="no",
                             seed=0)
    judge = RankJudge(rank)
    trainer = ParaS2SGRPOTrainer(model=tiny_audio_llm, args=args, train_dataset=prompts, judge=judge,
                                 peft_config=LoraConfig(r=4, lora_alpha=8,
                                                        target_modules=r".*language_model.*\.(q_proj|v_proj)"))
    model = trainer.accelerator.unwrap_model(trainer.model)
    before = lora_digest(model)
    trainer.train()
    logs = [e for e in trainer.state.log_history if "loss" in e]
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"before": before, "after": lora_digest(model), "audio_forwards": trainer.audio_forwards,
                   "missing_here": judge.missing, "logs": logs,
                   "world": torch.distributed.get_world_size()}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
