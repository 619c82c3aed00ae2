"""The manifest of a run: everything needed to say what produced its numbers.

Package versions, checkpoints with the revision found in the local Hub cache, the judge's prompt hash, seeds and
decoding settings (inside the system and judge configs), the dataset config and the machine.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata

logger = logging.getLogger(__name__)

PACKAGES = ("parass2s_hf", "torch", "transformers", "datasets", "evaluate", "huggingface_hub", "accelerate", "trl",
            "peft", "bitsandbytes", "torchcodec", "numpy", "scipy", "soundfile", "librosa", "openai",
            "espeakng-loader")
SYSTEM_CHECKPOINT_KEYS = ("asr", "llm", "model")
JUDGE_CHECKPOINT_KEYS = ("asr_model", "audio_llm", "rubric_model", "reward_model", "reward_adapter")


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def checkpoint_info(name: str) -> dict:
    """Where a checkpoint came from: a local folder (with a hash of its config) or a Hub id with the commit its cached
    copy resolves to (`None` when it is not in the local cache, e.g. a model name sent to an API)."""
    if os.path.isdir(name):
        config = os.path.join(name, "config.json")
        digest = None
        if os.path.exists(config):
            with open(config, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:16]
        return {"path": os.path.abspath(name), "config_sha256": digest}
    revision = None
    try:
        from huggingface_hub import constants

        ref = os.path.join(constants.HF_HUB_CACHE, "models--" + name.replace("/", "--"), "refs", "main")
        if os.path.exists(ref):
            with open(ref) as f:
                revision = f.read().strip()
    except Exception as e:  # noqa: BLE001  (a manifest never fails a finished run)
        logger.debug("no cached revision for %s: %s", name, e)
    return {"hub_id": name, "revision": revision}


def judge_prompt_hash() -> str:
    """A hash of the judge's prompt texts (the module that builds every judge prompt)."""
    from ..judge import prompts

    return hashlib.sha256(inspect.getsource(prompts).encode()).hexdigest()[:16]


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": sys.version.split()[0], "cpu_count": os.cpu_count()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return info


def build_manifest(*, system_name: str, system_config: dict, system_fingerprint: str, judge_config: dict,
                   judge_fingerprint: str, dataset: dict, num_samples: int, seed: int, label: str | None,
                   extra: dict | None = None) -> dict:
    """The `manifest.json` of a run."""
    checkpoints = {f"system.{k}": checkpoint_info(str(system_config[k])) for k in SYSTEM_CHECKPOINT_KEYS
                   if system_config.get(k)}
    for key in JUDGE_CHECKPOINT_KEYS:
        value = judge_config.get(key)
        if value and not (key == "rubric_model" and judge_config.get("rubric_api_base")):
            checkpoints[f"judge.{key}"] = checkpoint_info(str(value))
    for dim, path in (judge_config.get("style_analyzers") or {}).items():
        checkpoints[f"judge.style_analyzers.{dim}"] = checkpoint_info(str(path))
    from ..judge.prompts import PROMPT_VERSION

    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": label or system_name,
        "system": {"name": system_name, "config": system_config, "fingerprint": system_fingerprint},
        "judge": {"config": judge_config, "fingerprint": judge_fingerprint, "prompt_version": PROMPT_VERSION,
                  "prompt_hash": judge_prompt_hash()},
        "dataset": dataset,
        "num_samples": num_samples,
        "seed": seed,
        "checkpoints": checkpoints,
        "packages": package_versions(),
        "machine": machine_info(),
        "command": sys.argv,
        **(extra or {}),
    }
