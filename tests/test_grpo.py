"""ParaS2SAlign on CPU with tiny models: GRPO steps with spoken prompts (full precision and 4-bit), the audio in every
forward, missing rewards masked, text-only prompts, the reward, the config, bad prompt audio, the example script and
the trl private methods the trainer overrides."""

import inspect
import os

import numpy as np
import pytest
import torch
from conftest import load_example
from datasets import Dataset
from trl import GRPOTrainer

from parass2s_hf.align import (
    InvalidPromptAudioError,
    ParaS2SGRPOConfig,
    ParaS2SGRPOTrainer,
    ParaS2SReward,
    to_policy_rows,
)
from parass2s_hf.judge import JudgeConfig
from parass2s_hf.judge.items import JudgeResult

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def grpo_args(tmp_path, tiny, **kw):
    base = {"output_dir": str(tmp_path / "out"), "per_device_train_batch_size": 4, "num_generations": 4,
            "max_completion_length": 8, "max_steps": 2, "bf16": False, "use_cpu": True, "report_to": "none",
            "logging_steps": 1, "learning_rate": 1e-2, "activation_checkpointing": False, "save_strategy": "no",
            "judge_config": {"mode": "reward_model", "audio_llm": tiny["audio_llm"]}}
    return ParaS2SGRPOConfig(**{**base, **kw})


def lora_config():
    from peft import LoraConfig

    return LoraConfig(r=4, lora_alpha=8, target_modules=r".*language_model.*\.(q_proj|v_proj)")


class AudioSeen:
    """A forward pre-hook on the policy: every forward whose tokens hold audio placeholders must carry the features."""

    def __init__(self, model, audio_token):
        self.audio_token, self.with_audio, self.without = audio_token, 0, 0
        self.handle = model.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        ids = kwargs.get("input_ids")
        if ids is not None and (ids == self.audio_token).any():
            if kwargs.get("input_features") is None:
                self.without += 1
            else:
                self.with_audio += 1


def inner_model(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def trainable_snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_grpo_two_steps_with_spoken_prompts(tmp_path, tiny, prompts):
    trainer = ParaS2SGRPOTrainer(model=tiny["audio_llm"], args=grpo_args(tmp_path, tiny), train_dataset=prompts,
                                 peft_config=lora_config())
    model = trainer.model
    seen = AudioSeen(inner_model(model), model.config.audio_token_index)
    before = trainable_snapshot(model)
    trainer.train()
    after = trainable_snapshot(model)
    lora = [n for n in before if "lora_" in n]
    base = [n for n in before if "lora_" not in n]
    assert lora and any(not torch.equal(before[n], after[n]) for n in lora if "lora_B" in n)
    assert all(torch.equal(before[n], after[n]) for n in base)
    # generation, reference log-probs and loss: every forward over audio placeholders got the audio
    assert seen.without == 0 and seen.with_audio >= 4 and trainer.audio_forwards >= 4
    logs = trainer.state.log_history[0]
    assert 1 <= logs["rewards/parass2s_judge/mean"] <= 5
    assert {"parass2s/group_reward_std", "parass2s/frac_groups_zero_spread", "parass2s/missing_rewards"} <= set(logs)
    # the spoken completions' objective signals, every step (the WER only when asked: tests/test_signals.py)
    assert logs["parass2s/signals/duration"] > 0 and 0 <= logs["parass2s/signals/silence_ratio"] <= 1
    assert "parass2s/signals/wer" not in logs
    # one group (prompt) per step here: each step logs the reward mean of its prompt's dimension
    dims = {k.split("/")[-1] for step in trainer.state.log_history[:2] for k in step if k.startswith("parass2s/reward/")}
    assert dims and dims <= {"emotion", "sarcasm", "age", "gender"}
    assert logs["parass2s/missing_rewards"] == 0


def test_grpo_with_a_4bit_base_keeps_the_audio_tower_unquantised(tmp_path, tiny, prompts):
    from transformers import BitsAndBytesConfig

    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb

    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32)
    trainer = ParaS2SGRPOTrainer(model=tiny["audio_llm"], args=grpo_args(tmp_path, tiny), train_dataset=prompts,
                                 peft_config=lora_config(), quantization_config=quant)
    modules = dict(inner_model(trainer.model).named_modules())
    four_bit = [n for n, m in modules.items() if isinstance(m, bnb.nn.Linear4bit)]
    assert four_bit and all("audio_tower" not in n and "multi_modal_projector" not in n for n in four_bit)
    assert any("language_model" in n for n in four_bit)
    before = trainable_snapshot(trainer.model)
    trainer.train()
    after = trainable_snapshot(trainer.model)
    assert any(not torch.equal(before[n], after[n]) for n in before if "lora_B" in n)
    assert 1 <= trainer.state.log_history[0]["rewards/parass2s_judge/mean"] <= 5


class PatternReward:
    """Rewards known in advance: in each group of 4, None then 5, 3, 4 (a missing reward and three scored)."""

    __name__ = "pattern"

    def __call__(self, prompts, completions, **kw):
        return [None if i % 4 == 0 else float((5, 3, 4)[i % 4 - 1]) for i in range(len(completions))]


def test_missing_rewards_are_left_out_of_the_group_statistics(tmp_path, tiny, prompts):
    trainer = ParaS2SGRPOTrainer(model=tiny["audio_llm"], reward_funcs=[PatternReward()],
                                 args=grpo_args(tmp_path, tiny, max_steps=1), train_dataset=prompts,
                                 peft_config=lora_config())
    trainer.train()
    advantages = np.array(trainer._logs["advantages"]).reshape(-1, 4)
    scored = np.array([5.0, 3.0, 4.0])
    expected = (scored - scored.mean()) / (scored.std(ddof=1) + 1e-4)  # TRL's group std is unbiased
    for group in advantages:
        assert group[0] == 0.0  # a missing reward moves nothing: not a 0 (below the 1-5 scale) pulling the mean
        np.testing.assert_allclose(group[1:], expected, rtol=1e-4)
    logs = trainer.state.log_history[0]
    assert logs["parass2s/missing_rewards"] == 1 and logs["parass2s/group_reward_std"] > 0  # one group of 4 a step


def test_text_only_prompts_train_as_in_stock_trl(tmp_path, tiny):
    data = Dataset.from_dict({"prompt": [[{"role": "user", "content": f"Say something about {w}."}]
                                         for w in ("rain", "work", "music", "tea")]})
    args = grpo_args(tmp_path, tiny, max_steps=1, beta=0.0)
    trainer = ParaS2SGRPOTrainer(model=tiny["text_llm"], reward_funcs=[lambda completions, **kw: [1.0] * len(
        completions)], args=args, train_dataset=data)
    trainer.train()
    assert trainer.audio_forwards == 0 and trainer.state.log_history[0]["reward"] == 1.0


class FlakyRenderer:
    name = "flaky"

    def __init__(self):
        from parass2s_hf.render import get_renderer

        self.inner = get_renderer("espeak-ng")

    def render(self, text, style, voice_key=""):
        if "BREAK" in text:
            raise RuntimeError("cannot speak this")
        return self.inner.render(text, style, voice_key)

    def voice(self, style, voice_key=""):
        return self.inner.voice(style, voice_key)


class FixedJudge:
    config = JudgeConfig(mode="reward_model")

    def __init__(self, result=None):
        self.items = []
        self.result = result

    def score(self, items):
        self.items += items
        return [self.result or JudgeResult(score=4, score_expected=3.7) for _ in items]


def test_reward_renders_judges_and_counts_what_is_missing(sample_test):
    from parass2s_hf import load_audio

    row = sample_test[0]
    query = {"array": load_audio(row["audio"]).array, "sampling_rate": 16000}
    judge = FixedJudge()
    reward = ParaS2SReward(judge, FlakyRenderer())
    metrics = {}
    completions = [[{"role": "assistant", "content": c}] for c in
                   ("[style: cheerful] That is great news!", "[style: warm] BREAK", "", "no tag at all")]
    out = reward(prompts=[None] * 4, completions=completions, audio=[query] * 4, dimension=[row["dimension"]] * 4,
                 style=[row["style"]] * 4, text=[row["text"]] * 4, requirement=[row["requirement"]] * 4,
                 log_metric=lambda name, value: metrics.setdefault(name, value))
    assert out == [3.7, None, 1.0, 3.7]  # rendered+judged, render failure (missing), empty reply (minimum), neutral
    assert reward.missing == {"render_failed": 1} and reward.reply_styles["missing_tag"] == 2
    item = judge.items[0]
    assert item.dimension == row["dimension"] and item.query_style == row["style"] and item.query_text == row["text"]
    assert metrics["parass2s/missing_reward_frac"] == 0.25 and metrics[f"parass2s/reward/{row['dimension']}"] > 1
    # a judge that gives no expected score: the integer score, or missing when the fallback is off
    no_logits = FixedJudge(JudgeResult(score=2, score_expected=None))
    assert ParaS2SReward(no_logits)(None, ["[style: calm] Fine."], audio=[query]) == [2.0]
    strict = ParaS2SReward(no_logits, fallback_to_score=False)
    assert strict(None, ["[style: calm] Fine."], audio=[query]) == [None] and strict.missing == {"judge_ok": 1}
    with pytest.raises(ValueError, match="column 'audio'"):
        reward(None, ["x"], speech=[query])


def test_bad_prompt_audio_is_listed_before_training(tmp_path, tiny):
    good = np.sin(np.arange(16000) / 10).astype(np.float32) * 0.3
    data = Dataset.from_dict({"id": ["a", "b", "c"], "audio": [good.tolist(), [], (good * np.nan).tolist()]})
    data = data.map(lambda r: {"audio": {"array": r["audio"], "sampling_rate": 16000}})
    with pytest.raises(InvalidPromptAudioError, match=r"2 of 3 prompt rows.*row 1 \(b\).*row 2 \(c\)"):
        ParaS2SGRPOTrainer(model=tiny["audio_llm"], args=grpo_args(tmp_path, tiny), train_dataset=data)
    assert len(to_policy_rows(data, drop_invalid=True)) == 1
    with pytest.raises(ValueError, match="no audio column 'speech'"):
        to_policy_rows(data, audio_column="speech")


def test_config_validation_and_paper_defaults(tmp_path):
    cfg = ParaS2SGRPOConfig(output_dir=str(tmp_path), judge_config='{"audio_llm": "x"}', use_cpu=True, bf16=False)
    assert cfg.num_generations == 8 and cfg.beta == 0.2
    assert cfg.judge_config == {"mode": "reward_model", "audio_llm": "x"}
    with pytest.raises(ValueError, match="reward_field"):
        ParaS2SGRPOConfig(output_dir=str(tmp_path), reward_field="score_mean", use_cpu=True, bf16=False)
    with pytest.raises(ValueError, match="judge_config"):
        ParaS2SGRPOConfig(output_dir=str(tmp_path), judge_config={"nope": 1}, use_cpu=True, bf16=False)
    with pytest.raises(ValueError, match="at least 2 generations"):
        ParaS2SGRPOConfig(output_dir=str(tmp_path), num_generations=1, use_cpu=True, bf16=False)


def test_the_grpo_example_runs_its_cpu_recipe(tmp_path, tiny):
    example = load_example("train_grpo.py")
    config = os.path.join(REPO, "examples", "configs", "grpo_cpu_smoke.yaml")
    script_args, training_args, model_args = example.build_parser().parse_args_and_config(
        ["--config", config, "--model_name_or_path", tiny["audio_llm"], "--output_dir", str(tmp_path / "run"),
         "--judge_config", f'{{"mode": "reward_model", "audio_llm": "{tiny["audio_llm"]}"}}'])
    assert training_args.num_generations == 4 and script_args.dataset_config == "sample"
    trainer = example.main(script_args, training_args, model_args)
    assert trainer.state.global_step == 2
    # the tiny audio LLM judges as a tiny reward model above min_digit_mass: every completion got a reward
    logged = [entry for entry in trainer.state.log_history if "parass2s/missing_reward_frac" in entry]
    assert logged and all(entry["parass2s/missing_reward_frac"] == 0 for entry in logged), trainer.state.log_history
    card = (tmp_path / "run" / "README.md").read_text()
    assert "2511.08723" in card and "parass2s" in card
    assert (tmp_path / "run" / "adapter_model.safetensors").exists()


def test_the_gpu_recipe_parses_with_the_paper_settings(tmp_path):
    example = load_example("train_grpo.py")
    config = os.path.join(REPO, "examples", "configs", "grpo_qlora.yaml")
    # bf16 needs a GPU: parse as a CPU machine would
    script_args, args, model_args = example.build_parser().parse_args_and_config(
        ["--config", config, "--bf16", "false", "--use_cpu", "true", "--output_dir", str(tmp_path)])
    assert args.num_generations == 8 and args.beta == 0.2 and args.judge_config["mode"] == "reward_model"
    assert model_args.load_in_4bit and model_args.use_peft and script_args.dataset_split == "train"
    # the reward is the distilled reward model, never an undistilled instruct model in reward_model mode
    assert args.judge_config.get("reward_adapter") and not args.judge_config.get("audio_llm"), args.judge_config


# The private methods of trl's GRPOTrainer that ParaS2SGRPOTrainer overrides, with the parameters it relies on.
# A new trl that changes them must fail here, loudly, rather than silently drop the audio from some forward.
PRIVATE_API = {
    "_generate_and_score_completions": ["self", "inputs"],
    "_tokenize_prompts": ["self", "prompts"],
    "_compute_loss": ["self", "model", "inputs"],
    "_get_per_token_logps_and_entropies": ["self", "model", "input_ids", "attention_mask", "logits_to_keep",
                                           "batch_size"],
    "_calculate_rewards": ["self", "inputs", "prompts", "completions", "completion_ids_list"],
    "_generate_single_turn": ["self", "prompt_ids", "images", "multimodal_fields", "num_generations"],
}


@pytest.mark.parametrize("name", sorted(PRIVATE_API))
def test_trl_private_methods_keep_their_signatures(name):
    method = getattr(GRPOTrainer, name, None)
    assert method is not None, f"trl's GRPOTrainer no longer has {name}: ParaS2SGRPOTrainer must be updated"
    params = list(inspect.signature(method).parameters)
    expected = PRIVATE_API[name]
    assert params[:len(expected)] == expected, (
        f"trl's GRPOTrainer.{name} now takes {params}; ParaS2SGRPOTrainer was written against {expected}")
    # the returned triple of _tokenize_prompts is read by _generate: check trl still unpacks three values
    if name == "_tokenize_prompts":
        assert "prompt_ids, images, multimodal_fields = self._tokenize_prompts(prompts)" in inspect.getsource(
            GRPOTrainer._generate)


@pytest.mark.gpu
def test_grpo_with_a_qwen2_5_omni_thinker_policy(tmp_path, tiny, prompts):
    """The Qwen2.5-Omni thinker as the policy (its processor needs torchvision: run with `-m gpu` where it is
    installed; a CPU with torch 2.14.1 + torchvision 0.29.1 works)."""
    pytest.importorskip("torchvision")
    from transformers import (
        AutoTokenizer,
        Qwen2_5OmniForConditionalGeneration,
        Qwen2_5OmniProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
        WhisperFeatureExtractor,
    )

    from parass2s_hf.testing import build_tiny_omni

    path = build_tiny_omni(str(tmp_path / "omni"))
    thinker_dir = str(tmp_path / "thinker")
    Qwen2_5OmniForConditionalGeneration.from_pretrained(path).thinker.save_pretrained(thinker_dir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    processor = Qwen2_5OmniProcessor(image_processor=Qwen2VLImageProcessor(), video_processor=Qwen2VLVideoProcessor(),
                                     feature_extractor=WhisperFeatureExtractor.from_pretrained(path),
                                     tokenizer=tokenizer, chat_template=tokenizer.chat_template)
    processor.save_pretrained(thinker_dir)
    trainer = ParaS2SGRPOTrainer(model=thinker_dir, args=grpo_args(tmp_path, tiny), train_dataset=prompts,
                                 peft_config=lora_config())
    seen = AudioSeen(inner_model(trainer.model), trainer.model.config.audio_token_index)
    before = trainable_snapshot(trainer.model)
    trainer.train()
    after = trainable_snapshot(trainer.model)
    assert any(not torch.equal(before[n], after[n]) for n in before if "lora_B" in n)
    assert seen.without == 0 and seen.with_audio >= 4


def test_the_audio_placeholder_stays_suppressed_with_user_generation_kwargs(tmp_path, tiny, prompts):
    args = grpo_args(tmp_path, tiny, max_steps=1, generation_kwargs={"suppress_tokens": [5]})
    trainer = ParaS2SGRPOTrainer(model=tiny["audio_llm"], args=args, train_dataset=prompts, peft_config=lora_config())
    audio = trainer.model.config.audio_token_index
    assert set(trainer.generation_config.suppress_tokens) == {5, audio}
    assert trainer.args.model_init_kwargs is None  # consumed when the policy was loaded from its path
