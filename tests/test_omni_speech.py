"""The speech of an Omni policy's completions, as the GRPO reward makes it and as evaluation makes it (offline, tiny
random Qwen2.5-Omni on the CPU).

- `--system omni --adapter DIR` speaks a completion byte for byte as the reward spoke it with the LoRA-wrapped thinker
  of training (the adapter kept unmerged); merged, the waveform is only close;
- `speak_completions` (several completions in one call) gives `speak_completion`'s waveforms byte for byte.
"""

import numpy as np
import pytest

from parass2s_hf.models.omni_inputs import unpadded_row
from parass2s_hf.s2s import build_system
from parass2s_hf.s2s.omni import speak_completion, speak_completions, speech_seed

FAST = {"talker_max_new_tokens": 6, "talker_eos_token_id": [61], "token2wav_num_steps": 2}
"""The tiny Omni's talker and vocoder arguments, cut short (about 0.1 s of audio a completion)."""
SR = 16000


@pytest.fixture(scope="module")
def audible_omni(tmp_path_factory):
    from parass2s_hf.testing import build_tiny_omni

    return build_tiny_omni(str(tmp_path_factory.mktemp("omni_audible")), audible=True)


def query(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(SR * seconds))).astype(np.float32)


def completions(tokenizer, words):
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    return [tokenizer.encode(w, add_special_tokens=False) + [eos] for w in words]


@pytest.fixture(scope="module")
def trained_policy(audible_omni, tmp_path_factory):
    """An Omni policy as GRPO holds it: the whole model loaded once, a LoRA injected into its thinker (non-zero B
    matrices, as after training steps), saved as the trainer saves it; returns the policy and the adapter's folder."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2_5OmniForConditionalGeneration

    from parass2s_hf.align.omni_policy import OmniPolicy
    from parass2s_hf.models.omni_inputs import OmniAudioInputs

    model = Qwen2_5OmniForConditionalGeneration.from_pretrained(audible_omni)
    wrapped = get_peft_model(model.thinker, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1,
                                                       target_modules=r".*language_model.*\.(q_proj|v_proj)"))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    folder = str(tmp_path_factory.mktemp("omni_policy_lora"))
    wrapped.save_pretrained(folder)
    wrapped.train()  # the trainer's mode between steps: the reward puts the thinker in eval mode to speak
    builder = OmniAudioInputs.from_pretrained(audible_omni)
    return OmniPolicy(model, builder, speaker="Chelsie", generate_kwargs=FAST, model_id=audible_omni), folder


def test_evaluation_with_the_adapter_speaks_the_rewards_waveform_byte_for_byte(audible_omni, trained_policy):
    policy, adapter = trained_policy
    audio = query()
    ids = completions(policy.builder.tokenizer, ["How are you today?", "I am fine, thanks, and you?"])
    heard = [policy.speak(audio, c) for c in ids]  # what the reward hands the judge
    assert policy.thinker.training  # the reward restored the trainer's mode
    system = build_system("omni", model=audible_omni, adapter=adapter, device_map=None, speaker="Chelsie",
                          generate_kwargs=FAST)
    assert system.config()["adapter_merged"] is False
    spoken = system.speak(system.inputs([{"id": "q", "audio": {"array": audio, "sampling_rate": SR}}] * 2), ids)
    for reply, response in zip(heard, spoken):
        assert reply.array.size > 0 and np.abs(reply.array).max() > 1e-3  # audible, not a trivially equal silence
        assert response.info["speech_seed"] == reply.seed
        assert np.array_equal(response.audio, reply.array)
    # the base model speaks otherwise: the adapter is what makes them equal
    base = build_system("omni", model=audible_omni, device_map=None, speaker="Chelsie", generate_kwargs=FAST)
    [plain] = base.speak(base.inputs([{"id": "q", "audio": {"array": audio, "sampling_rate": SR}}]), ids[:1])
    assert not np.array_equal(plain.audio, heard[0].array)
    # merged into the weights (an option), the thinker agrees up to float rounding only
    merged = build_system("omni", model=audible_omni, adapter=adapter, merge_adapter=True, device_map=None,
                          speaker="Chelsie", generate_kwargs=FAST)
    [close] = merged.speak(merged.inputs([{"id": "q", "audio": {"array": audio, "sampling_rate": SR}}]), ids[:1])
    assert close.audio.shape == heard[0].array.shape
    np.testing.assert_allclose(close.audio, heard[0].array, atol=1e-3)
    # the thinker's own text generation runs with the unmerged adapter too
    [completion] = system.complete(system.inputs([{"id": "q", "audio": {"array": audio, "sampling_rate": SR}}]))
    assert len(completion) >= 1


def test_speak_completions_is_speak_completion_byte_for_byte(audible_omni):
    system = build_system("omni", model=audible_omni, device_map=None, speaker="Chelsie", generate_kwargs=FAST)
    model, kwargs = system.model, system.generation_kwargs()
    rows = [{"id": f"q{i}", "audio": {"array": query(s, seed=i), "sampling_rate": SR}} for i, s in enumerate((1.0, 1.7))]
    inputs = system.inputs(rows)
    group = system._to_model(unpadded_row(inputs, 0))
    # four completions of different lengths, one of a single token (nothing to speak)
    ids = completions(system.tokenizer, ["Hi.", "How are you today, my friend?", "Score three", ""])
    assert len({len(c) for c in ids}) == 4
    seeds = [speech_seed(c, 5) for c in ids]
    one = [speak_completion(model, group, c, s, **kwargs) for c, s in zip(ids, seeds)]
    assert all(w.size > 0 for w in one[:3]) and one[3].size == 0
    # a GRPO group: one query's inputs for every completion
    many = speak_completions(model, group, ids, seeds, **kwargs)
    assert len(many) == 4 and all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(one, many))
    # one query per completion (the second completion of another query): the same waveforms as one at a time
    other = system._to_model(unpadded_row(inputs, 1))
    mixed = speak_completions(model, [group, other, group, other], ids, seeds, **kwargs)
    assert np.array_equal(mixed[0], one[0]) and np.array_equal(mixed[2], one[2])
    assert np.array_equal(mixed[1], speak_completion(model, other, ids[1], seeds[1], **kwargs))
    with pytest.raises(ValueError, match="one seed per completion"):
        speak_completions(model, group, ids, seeds[:2], **kwargs)
