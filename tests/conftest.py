"""Test set-up: offline, private caches, CPU. Runs before any test module imports datasets or transformers."""

import os
import tempfile

# Must be set before datasets / huggingface_hub are imported: they read these at import time. Without
# HF_HUB_OFFLINE an unknown name waits ~23 s on the network here; a shared cache could make a test pass by
# reusing data prepared by another run.
_HOME = tempfile.mkdtemp(prefix="parass2s-tests-hf-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = _HOME
os.environ["HF_DATASETS_CACHE"] = os.path.join(_HOME, "datasets")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # the listening page's tests: no request leaves the machine

import json

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture(scope="session")
def sample_test():
    """The shipped `sample` config, test split (prepared once per session)."""
    import parass2s_hf

    return parass2s_hf.load_parass2sbench("sample", split="test")


@pytest.fixture(scope="session")
def prompts(sample_test):
    # one prompt per dimension, so the per-dimension reward metrics have something to show
    ids = [f"{d}-test-0001-{s}" for d, s in (("emotion", "happy"), ("sarcasm", "sarcastic"), ("age", "child"),
                                             ("gender", "female"))]
    index = {rid: i for i, rid in enumerate(sample_test["id"])}
    return sample_test.select([index[i] for i in ids])


def tone(seconds=1.0, freq=220.0, sr=16000, amp=0.3):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_data_dir(folder, rows, audio=None):
    """Write a data_dir: `rows` are metadata dicts; each gets a 1 s tone file unless it names a `file_name`
    that should not exist (`audio` maps file names to arrays to write instead)."""
    os.makedirs(folder, exist_ok=True)
    audio = audio or {}
    with open(os.path.join(folder, "metadata.jsonl"), "w") as f:
        for i, row in enumerate(rows):
            row = dict(row)
            row.setdefault("file_name", f"clips/{row.get('id', i)}.wav")
            if row.pop("_no_file", False) is False:
                path = os.path.join(folder, row["file_name"])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                sf.write(path, audio.get(row["file_name"], tone(1.0, 150 + 20 * i)), 16000)
            f.write(json.dumps(row) + "\n")
    return folder


def pair_rows(pair_id="p1", dimension="emotion", styles=("happy", "sad"), split="test", text="It is raining again."):
    return [{"id": f"{pair_id}-{s}", "pair_id": pair_id, "split": split, "dimension": dimension, "style": s,
             "text": text, "requirement": f"fits {s}", "reference_reply": "ok", "reference_reply_style": "warm"}
            for s in styles]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """Tiny random checkpoints (Whisper, Qwen2-Audio, Qwen2 chat LM), built once per session, loaded by path."""
    from parass2s_hf.testing import build_tiny_checkpoints

    return build_tiny_checkpoints(str(tmp_path_factory.mktemp("tiny")))


def load_example(filename):
    """Import `examples/<filename>` as a module so tests can call its `main(...)` and `build_parser()`. It is registered
    in `sys.modules` first: dataclasses resolve the script's annotations through its module."""
    import importlib.util
    import sys

    name = "parass2s_example_" + os.path.splitext(filename)[0]
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", filename)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
