"""Warm-up SFT of a Qwen2.5-Omni policy (align/sft_omni.py, examples/train_sft.py's Omni path), offline on the tiny
Omni: the target is the reply's words (no style tag), the prompt is exactly the one `--system omni` sends, the loss
covers the reply and its end-of-turn token, and the thinker LoRA the recipe saves loads with
`OmniSystem(model, adapter=DIR)`, which then speaks."""

import json
import os

import numpy as np
import pytest
import torch
from conftest import load_example

from parass2s_hf.align.sft import IGNORE_INDEX, demonstration_target
from parass2s_hf.align.sft_omni import (
    OmniSFTCollator,
    load_omni_thinker,
    merge_omni_adapter_and_save,
    omni_demonstration_target,
)
from parass2s_hf.s2s.omni import QWEN_SYSTEM_PROMPT, OmniSystem

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OMNI_YAML = os.path.join(ROOT, "examples", "configs", "sft_omni_cpu_smoke.yaml")
FAST = {"talker_max_new_tokens": 4, "talker_eos_token_id": [61], "token2wav_num_steps": 2}
"""The tiny Omni's `generate` arguments, cut short (as tests/test_omni_policy_inputs.py)."""


@pytest.fixture(scope="module")
def tiny_omni(tmp_path_factory):
    from parass2s_hf.testing import build_tiny_omni

    return build_tiny_omni(str(tmp_path_factory.mktemp("omni")))


@pytest.fixture(scope="module")
def train_sft():
    return load_example("train_sft.py")


@pytest.fixture(scope="module")
def collator(tiny_omni):
    return OmniSFTCollator.from_pretrained(tiny_omni)


def omni_system(path, **kw):
    return OmniSystem(path, device_map=None, max_new_tokens=6, speaker="Chelsie", generate_kwargs=FAST, **kw)


def _row(sample_test, i=0, **changes):
    row = dict(sample_test[i])
    row.update(changes)
    return row


def test_omni_target_is_the_reply_words_without_the_style_tag(sample_test):
    row = sample_test[0]
    assert omni_demonstration_target(row) == row["reference_reply"].strip()
    assert "[style:" not in omni_demonstration_target(row)
    assert demonstration_target(row).endswith(omni_demonstration_target(row))  # the same words as the espeak policy's
    # the same rows are demonstrations for both policies
    assert omni_demonstration_target({"id": "x", "reference_reply": "Hi.", "reference_reply_style": ""}) is None
    assert omni_demonstration_target({"id": "x", "reference_reply": "  ", "reference_reply_style": "warm"}) is None
    with pytest.raises(ValueError, match="row-with-bad-style"):
        omni_demonstration_target({"id": "row-with-bad-style", "reference_reply": "Hi.", "reference_reply_style": "x"})


def test_omni_collator_masks_all_but_the_reply_and_its_prompt_is_the_omni_systems(sample_test, tiny_omni, collator):
    tok = collator.tokenizer
    audio_id = tok.convert_tokens_to_ids("<|AUDIO|>")
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    rows = [sample_test[0], sample_test[5]]
    batch = collator(rows)
    assert set(batch) == {"input_ids", "attention_mask", "labels", "input_features", "feature_attention_mask"}
    assert batch["input_features"].shape == (2, 128, 3000)
    lengths = batch["attention_mask"].sum(1)
    assert lengths.max() == batch["input_ids"].shape[1] and lengths.min() < lengths.max()  # right-padded

    system = omni_system(tiny_omni)
    for i, row in enumerate(rows):
        ids, labels, length = batch["input_ids"][i], batch["labels"][i], int(lengths[i])
        assert (ids[length:] == collator.pad_token_id).all() and (labels[length:] == IGNORE_INDEX).all()
        kept = (labels != IGNORE_INDEX).nonzero()[:, 0]
        start, end = int(kept[0]), int(kept[-1]) + 1
        assert len(kept) == end - start and (labels[start:end] == ids[start:end]).all()
        # the loss: the reply's words as tokenized, then the end of turn; no style tag
        words = row["reference_reply"].strip()
        assert labels[start:end].tolist() == tok(words, add_special_tokens=False)["input_ids"] + [im_end]
        assert "[style:" not in tok.decode(ids[:length])
        # the prompt is what `--system omni` (and so a GRPO reward) gives the thinker: ids and audio features
        inputs = system.inputs([row])
        assert ids[:start].tolist() == inputs["input_ids"][0].tolist()
        assert torch.equal(batch["input_features"][i], inputs["input_features"][0])
        assert torch.equal(batch["feature_attention_mask"][i], inputs["feature_attention_mask"][0])
        assert QWEN_SYSTEM_PROMPT in tok.decode(ids[:start]) and int((ids[:start] == audio_id).sum()) > 0


def test_omni_collator_refuses_bad_rows_by_id(sample_test, collator, tiny_omni):
    with pytest.raises(ValueError, match="no-reply-row.*no target"):
        collator([_row(sample_test, 0, id="no-reply-row", reference_reply="")])
    row = _row(sample_test, 0, id="no-audio-row")
    del row["audio"]
    with pytest.raises(ValueError, match="no-audio-row.*remove_unused_columns"):
        collator([sample_test[1], row])
    silent = {"array": np.full(16000, np.nan, np.float32), "sampling_rate": 16000}
    with pytest.raises(ValueError, match="nan-row.*NaN"):
        collator([_row(sample_test, 0, id="nan-row", audio=silent)])
    with pytest.raises(ValueError, match="empty batch"):
        collator([])
    with pytest.raises(ValueError, match="OmniAudioInputs"):
        OmniSFTCollator(collator.tokenizer)
    # without a system prompt, none is written, and the reply still counts
    batch = OmniSFTCollator.from_pretrained(tiny_omni, system_prompt=None)([sample_test[0]])
    assert QWEN_SYSTEM_PROMPT not in collator.tokenizer.decode(batch["input_ids"][0])
    assert (batch["labels"] != IGNORE_INDEX).any()


def test_the_thinker_loads_alone_from_the_omni_checkpoint(tiny_omni, tmp_path):
    from transformers import Qwen2_5OmniForConditionalGeneration

    thinker = load_omni_thinker(tiny_omni)
    expected = Qwen2_5OmniForConditionalGeneration.from_pretrained(tiny_omni).thinker.state_dict()
    got = thinker.state_dict()
    assert set(got) == set(expected) and all(torch.equal(got[k], expected[k]) for k in expected)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_audio"}))
    with pytest.raises(ValueError, match="qwen2_audio"):
        load_omni_thinker(str(tmp_path))


def test_the_recipe_detects_an_omni_and_its_yaml_parses(train_sft, tiny_omni, tmp_path):
    assert train_sft.policy_kind(tiny_omni) == "omni"
    for model_type, expected in (("qwen2_audio", "audio_llm"), (None, "audio_llm")):
        folder = tmp_path / str(model_type)
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
        assert train_sft.policy_kind(str(folder)) == expected
    assert train_sft.policy_kind(str(tmp_path / "missing")) == "audio_llm"  # left to the preflight to name
    qwen3 = tmp_path / "qwen3"
    qwen3.mkdir()
    (qwen3 / "config.json").write_text(json.dumps({"model_type": "qwen3_omni_moe"}))
    with pytest.raises(ValueError, match="qwen3_omni_moe.*thinker"):
        train_sft.policy_kind(str(qwen3))

    script_args, training_args, model_args = train_sft.build_parser().parse_args_and_config(["--config", OMNI_YAML])
    assert model_args.model_name_or_path == "tiny/omni_audible" and model_args.use_peft
    assert script_args.omni_system_prompt == QWEN_SYSTEM_PROMPT and script_args.merge_output_dir is None
    assert training_args.max_steps == 2 and training_args.use_cpu
    _, training_args, model_args = train_sft.build_parser().parse_args_and_config(["--config", OMNI_YAML,
                                                                                   "--use_peft", "false"])
    with pytest.raises(ValueError, match="use_peft"):
        train_sft.load_omni_policy(model_args, training_args)


def test_a_4bit_thinker_keeps_its_audio_and_vision_towers_unquantised(train_sft, tiny_omni):
    import bitsandbytes as bnb

    argv = ["--config", OMNI_YAML, "--model_name_or_path", tiny_omni, "--load_in_4bit", "true"]
    _, training_args, model_args = train_sft.build_parser().parse_args_and_config(argv)
    thinker = train_sft.load_omni_policy(model_args, training_args)
    modules = dict(thinker.named_modules())
    four_bit = [n for n, m in modules.items() if isinstance(m, bnb.nn.Linear4bit)]
    assert four_bit and all(n.startswith("model.language_model.") for n in four_bit)
    assert isinstance(modules["model.audio_tower.layers.0.self_attn.q_proj"], torch.nn.Linear)
    assert not isinstance(modules["model.audio_tower.layers.0.self_attn.q_proj"], bnb.nn.Linear4bit)
    assert not any(isinstance(m, bnb.nn.Linear4bit) for n, m in modules.items() if n.startswith("model.visual"))


@pytest.mark.slow
@pytest.mark.parametrize("quantized", [False, True], ids=["full-precision", "4bit-thinker"])
def test_train_sft_omni_two_steps_then_the_omni_system_speaks_with_the_adapter(train_sft, tiny_omni, sample_test,
                                                                                 tmp_path, quantized):
    from safetensors.torch import load_file

    out = str(tmp_path / "sft")
    argv = ["--config", OMNI_YAML, "--model_name_or_path", tiny_omni, "--output_dir", out, "--limit", "4"]
    if quantized:
        argv += ["--load_in_4bit", "true"]
    merged_dir = train_sft.main(*train_sft.build_parser().parse_args_and_config(argv))
    assert merged_dir == os.path.join(out, "merged")

    # the adapter: LoRA on the thinker's language model only (keys as a LoRA on `model.thinker` saves them); B moved
    adapter = load_file(os.path.join(out, "adapter_model.safetensors"))
    assert adapter and all(k.startswith("base_model.model.model.language_model.") and ".lora_" in k for k in adapter)
    assert all(v.abs().sum() > 0 for k, v in adapter.items() if "lora_B" in k)

    # --system omni --model BASE --adapter DIR: the trained thinker, which still speaks
    base, tuned = omni_system(tiny_omni), omni_system(tiny_omni, adapter=out)
    [response] = tuned.respond([sample_test[0]])
    assert response.error is None and response.sampling_rate == 24000
    assert response.audio.size > 0 and np.isfinite(response.audio).all()
    # the adapter loads unmerged (evaluation speaks as the GRPO reward did); merged, its weights are the base's but
    # for the language model's projections
    fused = omni_system(tiny_omni, adapter=out, merge_adapter=True)
    before, after = base.model.thinker.state_dict(), fused.model.thinker.state_dict()
    assert set(before) == set(after)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".language_model." in k and k.endswith("_proj.weight") for k in changed)
    for part in ("talker", "token2wav"):  # frozen
        a, b = getattr(base.model, part).state_dict(), getattr(fused.model, part).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)

    # the merged whole checkpoint is the same policy: --system omni --model MERGED
    merged = omni_system(merged_dir)
    assert merged.speakers() == ["Chelsie"]
    weights = merged.model.thinker.state_dict()
    assert all(torch.allclose(weights[k], after[k]) for k in after)
    assert merged.respond([sample_test[0]])[0].audio.size > 0
    with pytest.raises(ValueError, match="not an Omni"):
        merge_omni_adapter_and_save(out, str(tmp_path / "sft"), str(tmp_path / "again"))  # no Omni config there
