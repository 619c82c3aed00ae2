"""Training on two processes with DDP (torchrun, gloo, CPU), as `accelerate launch` runs it on several GPUs: GRPO with
spoken prompts (the audio hook reaches the model through the DDP wrapper; a missing reward on one rank is masked in the
gathered group statistics; both ranks end with the same adapter) and the SFT warm-up. Slow: `.ci/run` runs them."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(REPO, "tests", "distributed")


def torchrun(args, cwd, env, timeout=900):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1",
            "CUDA_VISIBLE_DEVICES": ""}


@pytest.mark.slow
def test_grpo_on_two_processes_trains_one_adapter_and_masks_a_missing_reward(tmp_path, tiny, env):
    done = torchrun([os.path.join(HERE, "grpo_two_ranks.py"), tiny["audio_llm"], str(tmp_path)], tmp_path, env)
    assert done.returncode == 0, done.stderr[-5000:]
    ranks = [json.loads((tmp_path / f"rank{k}.json").read_text()) for k in (0, 1)]
    assert all(r["world"] == 2 for r in ranks)
    assert ranks[0]["after"] == ranks[1]["after"] != ranks[0]["before"]  # trained, and DDP kept the ranks in step
    assert all(r["audio_forwards"] >= 2 for r in ranks)  # the prompt audio reached the wrapped model on each rank
    assert ranks[0]["missing_here"] == 0 and ranks[1]["missing_here"] >= 2
    logs = ranks[0]["logs"]
    assert len(logs) == 2 and all(e["loss"] == e["loss"] for e in logs)  # finite: the NaN reward never reached it
    # the gathered statistics see rank 1's missing reward: counted, left out of the group mean
    assert all(e["parass2s/missing_rewards"] >= 1 for e in logs), logs
    assert all(1 <= e["rewards/parass2s_judge/mean"] <= 5 for e in logs), logs
    assert done.stdout.count("'train_runtime'") == 1  # the summary logged once, by the main process


@pytest.mark.slow
def test_sft_on_two_processes(tmp_path, tiny, env):
    os.symlink(os.path.join(REPO, "examples"), tmp_path / "examples")
    done = torchrun(["examples/train_sft.py", "--config", "examples/configs/sft_cpu_smoke.yaml",
                     "--model_name_or_path", tiny["audio_llm"], "--output_dir", str(tmp_path / "sft"),
                     "--per_device_train_batch_size", "1"], tmp_path, env)
    assert done.returncode == 0, done.stderr[-5000:]
    assert (tmp_path / "sft" / "adapter_model.safetensors").exists()
    assert (tmp_path / "sft" / "merged" / "config.json").exists()
    assert (tmp_path / "sft" / "merged" / "parass2s_policy.json").exists()
