"""The Omni system without torchvision, speaking given completions, and with a trained thinker (offline, tiny random
Qwen2.5-Omni on the CPU).

- `models.omni_inputs` builds the tensors the Omni processors make: compared with `Qwen2_5OmniProcessor.__call__` and
  `Qwen3OmniMoeProcessor.__call__` themselves (run with stand-ins for their image and video processors, whose classes
  cannot be imported without torchvision), and with the real Qwen2.5-Omni processor where torchvision is installed;
- `OmniSystem.speak` gives `respond`'s waveform for the same completion, and the model's own `generate` waveform;
- `--adapter`: a LoRA on the thinker is loaded (unmerged, or merged on request), checked, changes the fingerprint, and
  generation still runs.
"""

import json
import os
import sys
import warnings

import numpy as np
import pytest

from parass2s_hf.models.omni_inputs import OmniAudioInputs, audio_token_counts, omni_conversation, unpadded_row
from parass2s_hf.s2s import build_system, system_fingerprint
from parass2s_hf.s2s.omni import merge_thinker_adapter, speak_completion, speech_seed, teacher_forced_thinker_output

FAST = {"talker_max_new_tokens": 4, "talker_eos_token_id": [61], "token2wav_num_steps": 2}
"""The tiny Omni's `generate` arguments (`testing.TINY_OMNI_GENERATE_KWARGS`), cut short: four codec steps and two
vocoder ODE steps keep a spoken reply near 0.1 s on a CPU."""
SR = 16000


@pytest.fixture(scope="module")
def tiny_omni(tmp_path_factory):
    from parass2s_hf.testing import build_tiny_omni

    return build_tiny_omni(str(tmp_path_factory.mktemp("omni")))


def clips(*seconds, seed=0):
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(max(1, round(s * SR)))).astype(np.float32) for s in seconds]


def rows_of(*seconds):
    return [{"id": f"q{i}", "audio": {"array": a, "sampling_rate": SR}} for i, a in enumerate(clips(*seconds))]


def omni(path, **kw):
    return build_system("omni", model=path, device_map=None, max_new_tokens=6, speaker="Chelsie",
                        generate_kwargs=FAST, **kw)


class _NoProcessor:
    """Stands in for the image and video processors, which audio-only inputs never reach."""

    model_input_names = ()


def stubbed(processor_cls):
    """The processor class, its constructor's class check waived for the two vision processors."""

    class Stubbed(processor_cls):
        def check_argument_for_proper_class(self, argument_name, argument):
            if argument_name in ("image_processor", "video_processor"):
                return type(argument)
            return super().check_argument_for_proper_class(argument_name, argument)

    return Stubbed


def processor_call(processor, build, audios, conversation):
    """What the processor makes of the prompt text its own chat template writes, as `OmniSystem` used to call it."""
    text = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    return processor(text=[text] * len(audios), audio=audios, sampling_rate=SR, return_tensors="pt", padding=True)


def assert_same_tensors(got, expected):
    import torch

    assert sorted(got) == sorted(expected)
    for key in expected:
        assert got[key].dtype == expected[key].dtype, key
        assert torch.equal(got[key], expected[key]), key


# ---- inputs without the processor ----

def test_inputs_are_the_qwen2_5_omni_processors_for_one_clip_and_a_batch(tiny_omni):
    from transformers import Qwen2_5OmniProcessor

    build = OmniAudioInputs.from_pretrained(tiny_omni)
    processor = stubbed(Qwen2_5OmniProcessor)(image_processor=_NoProcessor(), video_processor=_NoProcessor(),
                                              feature_extractor=build.feature_extractor, tokenizer=build.tokenizer,
                                              chat_template=build.chat_template)
    conversation = omni_conversation("Be kind.")
    # one clip; then clips of different lengths: 1 s, 2.5 s, one over 30 s (truncated to 30 s), 20 ms
    for audios in (clips(1.3), clips(1.0, 2.5, 31.2, 0.02)):
        got = build(audios, conversation)
        assert_same_tensors(got, processor_call(processor, build, audios, conversation))
    audio_id = build.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    assert (got["input_ids"] == audio_id).sum(-1).tolist() == [25, 62, 750, 0]
    assert got["attention_mask"][:, 0].tolist() == [0, 0, 1, 0]  # left-padded: the longest prompt is unpadded


def test_inputs_are_the_real_processors_where_torchvision_is_installed(tiny_omni):
    pytest.importorskip("torchvision")
    from transformers import Qwen2_5OmniProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    build = OmniAudioInputs.from_pretrained(tiny_omni)
    processor = Qwen2_5OmniProcessor(image_processor=Qwen2VLImageProcessor(), video_processor=Qwen2VLVideoProcessor(),
                                     feature_extractor=build.feature_extractor, tokenizer=build.tokenizer,
                                     chat_template=build.chat_template)
    audios = clips(1.0, 2.5, 31.2)
    conversation = omni_conversation("Be kind.")
    assert_same_tensors(build(audios, conversation), processor_call(processor, build, audios, conversation))


@pytest.fixture(scope="module")
def tiny_qwen3_omni_files(tmp_path_factory):
    """A Qwen3-Omni checkpoint's small files: config.json, a tokenizer whose audio tokens have Qwen3-Omni's names, its
    chat template, a Whisper feature extractor (no weights: no model runs)."""
    from transformers import PreTrainedTokenizerFast, WhisperFeatureExtractor

    from parass2s_hf.testing import _tokenizer_object

    folder = tmp_path_factory.mktemp("qwen3_omni")
    specials = {"audio_token": "<|audio_pad|>", "audio_bos_token": "<|audio_start|>",
                "audio_eos_token": "<|audio_end|>", "image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>"}
    tok = PreTrainedTokenizerFast(tokenizer_object=_tokenizer_object(), eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", unk_token="<unk>", extra_special_tokens=specials)
    tok.chat_template = (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
        "{% if part['type'] == 'audio' %}<|audio_start|><|audio_pad|><|audio_end|>"
        "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tok.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=128).save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen3_omni_moe"}))
    return str(folder)


def test_qwen3_omni_inputs_are_its_processors(tiny_qwen3_omni_files):
    from transformers import Qwen3OmniMoeProcessor

    build = OmniAudioInputs.from_pretrained(tiny_qwen3_omni_files)
    assert build.model_type == "qwen3_omni_moe" and build.audio_token == "<|audio_pad|>"
    processor = stubbed(Qwen3OmniMoeProcessor)(image_processor=_NoProcessor(), video_processor=_NoProcessor(),
                                               feature_extractor=build.feature_extractor, tokenizer=build.tokenizer,
                                               chat_template=build.chat_template)
    audios = clips(1.0, 2.5, 31.2)  # padded to the longest, nothing truncated; 31 s spans 31 windows
    conversation = omni_conversation(None)
    got = build(audios, conversation)
    assert_same_tensors(got, processor_call(processor, build, audios, conversation))
    assert got["input_features"].shape[-1] == 3120
    assert (got["input_ids"] == build.tokenizer.convert_tokens_to_ids("<|audio_pad|>")).sum(-1).tolist() == \
        [13, 33, 406]


def test_the_placeholder_rules_and_what_the_builder_refuses(tiny_omni):
    # hand-computed: Qwen2.5-Omni two stride-2 halvings; Qwen3-Omni 13 tokens per 100-frame window plus the rest's
    assert audio_token_counts("qwen2_5_omni", [3000, 100, 250, 1]) == [750, 25, 62, 0]
    assert audio_token_counts("qwen3_omni_moe", [100, 250, 3120, 1]) == [13, 33, 406, 1]
    with pytest.raises(ValueError, match="qwen2_audio"):
        audio_token_counts("qwen2_audio", [100])
    build = OmniAudioInputs.from_pretrained(tiny_omni)
    with pytest.raises(ValueError, match="0 audio placeholders"):
        build(clips(1.0), [{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    with pytest.raises(ValueError, match="2 conversations for 1 clips"):
        build(clips(1.0), [omni_conversation(None)] * 2)
    from transformers import PreTrainedTokenizerFast

    from parass2s_hf.testing import _tokenizer_object

    plain = PreTrainedTokenizerFast(tokenizer_object=_tokenizer_object(), unk_token="<unk>")
    with pytest.raises(ValueError, match="names no audio_token"):
        OmniAudioInputs(plain, build.feature_extractor, "qwen2_5_omni")
    with pytest.raises(ValueError, match="not in the qwen2_5_omni tokenizer's vocabulary"):
        OmniAudioInputs(plain, build.feature_extractor, "qwen2_5_omni", audio_token="<|audio_pad|>")
    with pytest.raises(ValueError, match="supported"):
        OmniAudioInputs(build.tokenizer, build.feature_extractor, "qwen2_audio")


# ---- the system without torchvision; speaking a given completion ----

@pytest.fixture(scope="module")
def system(tiny_omni):
    """The tiny Omni as a system, its thinker in batches of two."""
    return omni(tiny_omni, batch_size=2)


def test_the_omni_system_runs_without_torchvision_or_a_processor(system, monkeypatch):
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("the Omni processor was used")

    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` raises ImportError
    monkeypatch.setattr(transformers.Qwen2_5OmniProcessor, "__init__", refuse)
    out = system.respond(rows_of(1.0, 1.6))
    assert [r.sampling_rate for r in out] == [24000, 24000]
    assert all(r.error is None and r.audio.ndim == 1 and r.audio.size > 0 and np.isfinite(r.audio).all() for r in out)


def test_speak_gives_responds_waveform_for_the_same_completion(system):
    import torch

    rows = rows_of(1.0, 1.6, 0.7)
    out = system.respond(rows)  # the thinker in batches of two (left-padded), every completion spoken alone
    again = system.respond(rows)
    assert all(np.array_equal(a.audio, b.audio) and a.text == b.text for a, b in zip(out, again))
    for response in out:
        ids = response.info["completion_ids"]
        assert len(ids) >= 2 and response.info["speech_seed"] == speech_seed(ids, system.seed)
    # the three completions spoken again from one batch of inputs (padding removed row by row), one as a tensor
    completions = [out[0].info["completion_ids"], torch.tensor(out[1].info["completion_ids"]),
                   out[2].info["completion_ids"]]
    spoken = system.speak(system.inputs(rows), completions)
    assert all(np.array_equal(a.audio, b.audio) and a.text == b.text for a, b in zip(out, spoken))
    # another seed speaks otherwise
    [other] = system.speak(system.inputs(rows[:1]), completions[:1], seed=12345)
    assert other.info["speech_seed"] == 12345 and not np.array_equal(other.audio, out[0].audio)
    # a completion is cut after its end token; one given as text is tokenized and ended as the thinker ends one
    eos = system.tokenizer.convert_tokens_to_ids("<|im_end|>")
    words = system.tokenizer.encode("How are you today?", add_special_tokens=False)
    assert system.completion_ids(words + [eos, 5, 5]) == words + [eos]
    assert system.completion_ids("How are you today?") == words + [eos]
    [by_text] = system.speak(system.inputs(rows[:1]), ["How are you today?"])
    assert by_text.text == "How are you today?" and by_text.info["completion_ids"] == words + [eos]
    assert by_text.audio.size > 0
    # a completion with nothing to speak (only the end token) is an empty response, not a crash
    [empty] = system.speak(system.inputs(rows[:1]), [[eos]])
    assert empty.audio.size == 0 and empty.error is None
    with pytest.raises(ValueError, match="2 completions for 1 queries"):
        system.speak(system.inputs(rows[:1]), [[eos], [eos]])


def test_speak_is_the_models_own_generate_for_the_completion_it_generated(system):
    """A greedy thinker and one query: the model's `generate` (thinker decoding step by step) and `speak_completion`
    (one teacher-forced pass) give the talker the same states and so the same waveform, byte for byte."""
    import torch

    model = system.model
    row = system._to_model(unpadded_row(system.inputs(rows_of(1.2)), 0))
    kwargs = system.generation_kwargs()
    torch.manual_seed(7)
    with torch.inference_mode():
        sequences, wav = model.generate(**row, **kwargs)
    completion = sequences[0, row["input_ids"].shape[1]:].tolist()
    assert len(completion) == 6 and wav.numel() > 0
    assert np.array_equal(speak_completion(model, row, completion, 7, **kwargs), wav.numpy())
    assert "generate" not in vars(model.thinker)  # the stand-in for the thinker's generate is gone afterwards
    # the states handed to the talker line up with the decoding steps' (an off-by-one would not)
    with torch.inference_mode():
        decoded = model.thinker.generate(**row, max_new_tokens=6, do_sample=False, output_hidden_states=True,
                                         return_dict_in_generate=True)
        forced = teacher_forced_thinker_output(model.thinker, row["input_ids"], torch.tensor([completion]),
                                               {k: v for k, v in row.items() if k != "input_ids"})
    assert torch.equal(decoded.sequences, forced.sequences) and len(decoded.hidden_states) == len(forced.hidden_states)
    for step, (a, b) in enumerate(zip(decoded.hidden_states, forced.hidden_states)):
        assert len(a) == len(b)
        for layer_a, layer_b in zip(a, b):
            assert layer_a.shape == layer_b.shape and torch.allclose(layer_a, layer_b, atol=1e-5), step


# ---- a trained thinker: --adapter ----

def save_thinker_lora(base: str, folder: str, seed: int = 0, target: str = r".*language_model.*\.(q_proj|v_proj)",
                      on_the_whole_model: bool = False) -> str:
    """A LoRA on the tiny Omni's thinker language model, saved as a trainer saves it, its B matrices non-zero (a fresh
    LoRA is a no-op)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2_5OmniForConditionalGeneration

    model = Qwen2_5OmniForConditionalGeneration.from_pretrained(base)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=target)
    wrapped = get_peft_model(model if on_the_whole_model else model.thinker, config)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    wrapped.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def thinker_adapter(tiny_omni, tmp_path_factory):
    return save_thinker_lora(tiny_omni, str(tmp_path_factory.mktemp("omni_lora")))


def edited_adapter(adapter, folder, edit):
    """A copy of `adapter` with its weights passed through `edit` (a dict of tensors in, one out)."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(adapter, folder)
    path = os.path.join(folder, "adapter_model.safetensors")
    save_file(edit(load_file(path)), path)
    return str(folder)


def test_an_adapter_is_loaded_onto_the_thinker_and_changes_the_fingerprint(tiny_omni, system, thinker_adapter,
                                                                            tmp_path):
    import torch
    from peft import PeftModel
    from transformers import Qwen2_5OmniForConditionalGeneration

    tuned = omni(tiny_omni, adapter=thinker_adapter, batch_size=2)
    config = tuned.config()
    assert config["adapter"] == thinker_adapter and len(config["adapter_sha256"]) == 16
    assert config["adapter_merged"] is False
    assert "adapter" not in system.config()  # runs without an adapter keep their fingerprint
    assert system_fingerprint(system) != system_fingerprint(tuned)
    assert tuned._model is None  # checked and hashed at construction, loaded on first use
    other = edited_adapter(thinker_adapter, tmp_path / "other", lambda w: {k: v * 2 for k, v in w.items()})
    assert system_fingerprint(omni(tiny_omni, adapter=other, batch_size=2)) != system_fingerprint(tuned)
    merged = omni(tiny_omni, adapter=thinker_adapter, batch_size=2, merge_adapter=True)
    assert merged.config()["adapter_merged"] is True and system_fingerprint(merged) != system_fingerprint(tuned)
    # the thinker computes exactly what the thinker wrapped with the adapter computes (merged: up to rounding), and not
    # what the base does
    reference = Qwen2_5OmniForConditionalGeneration.from_pretrained(tiny_omni).eval()
    reference.thinker = PeftModel.from_pretrained(reference.thinker, thinker_adapter).eval()
    rows = rows_of(1.0)
    inputs = tuned._to_model(tuned.inputs(rows))
    with torch.inference_mode():
        tuned_logits = tuned.model.thinker(**inputs).logits
        merged_logits = merged.model.thinker(**inputs).logits
        wrapped_logits = reference.thinker(**inputs).logits
        base_logits = system.model.thinker(**inputs).logits
    assert type(tuned.model.thinker) is type(system.model.thinker)  # the thinker class, its LoRA layers unmerged
    assert any("lora_B" in name for name, _ in tuned.model.named_modules()) and not tuned.model.training
    assert not any("lora" in name for name, _ in merged.model.named_modules())
    assert torch.equal(tuned_logits, wrapped_logits)
    assert torch.allclose(merged_logits, wrapped_logits, atol=1e-4)
    assert not torch.allclose(tuned_logits, base_logits, atol=1e-2)
    # the full generate (thinker then talker) runs the thinker with its adapter; speak gives respond's waveform
    [response] = tuned.respond(rows)
    assert response.audio.size > 0
    [spoken] = tuned.speak(tuned.inputs(rows), [response.info["completion_ids"]])
    assert np.array_equal(spoken.audio, response.audio)
    # a thinker kept wrapped by PEFT (as a trainer holds it) drives the talker through speak_completion too
    row = tuned._to_model(unpadded_row(tuned.inputs(rows), 0))
    wav = speak_completion(reference, row, response.info["completion_ids"], 3, **tuned.generation_kwargs())
    assert wav.size > 0 and np.isfinite(wav).all() and "generate" not in vars(reference.thinker)
    # a folder without an adapter, and an adapter whose weights do not fit, are refused
    with pytest.raises(ValueError, match="no adapter_config.json"):
        omni(tiny_omni, adapter=str(tmp_path))
    renamed = edited_adapter(thinker_adapter, tmp_path / "renamed",
                             lambda w: {k.replace("layers.0", "layers.7"): v for k, v in w.items()})
    with pytest.raises(ValueError, match="does not fit the thinker"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft's own note of the missing keys
        _ = omni(tiny_omni, adapter=renamed).model


@pytest.mark.slow
def test_an_adapter_saved_from_the_whole_model_is_loaded_too(tiny_omni, tmp_path):
    """A LoRA saved from the whole Omni model (keys `base_model.model.thinker.`) is applied to the whole model."""
    whole = save_thinker_lora(tiny_omni, str(tmp_path / "whole"), target=r".*thinker.*language_model.*\.q_proj",
                              on_the_whole_model=True)
    tuned = omni(tiny_omni, adapter=whole)
    [response] = tuned.respond(rows_of(0.8))
    assert response.audio.size > 0 and any("lora_B" in n for n, _ in tuned.model.thinker.named_modules())
    assert type(tuned.model).__name__ == "Qwen2_5OmniForConditionalGeneration"
    # the same through the function a trainer would call
    from transformers import Qwen2_5OmniForConditionalGeneration

    model = merge_thinker_adapter(Qwen2_5OmniForConditionalGeneration.from_pretrained(tiny_omni), whole)
    assert not any("lora" in n for n, _ in model.named_modules())


def test_system_arguments_pass_the_omni_adapter_and_check_it(tiny_omni, thinker_adapter):
    from parass2s_hf.evaluation.arguments import SystemArguments

    args = SystemArguments(system="omni", model=tiny_omni, adapter=thinker_adapter)
    assert args.to_kwargs()["adapter"] == thinker_adapter
    assert "adapter" not in SystemArguments(system="omni", model=tiny_omni).to_kwargs()
    checks = args.model_checks()
    assert [(c.setting, c.role) for c in checks] == [("--model", "omni"), ("--adapter", "adapter")]
    assert [c() for c in checks] == ["qwen2_5_omni", "lora"]  # both pass the start-up check
