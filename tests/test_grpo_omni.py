"""ParaS2SAlign with a Qwen2.5-Omni policy (tiny random Omni, CPU): the thinker writes and trains, its frozen talker
speaks every completion, and the judge hears exactly that waveform.

- the reward: the judge gets the talker's waveform byte for byte (its SHA-256 against `OmniSystem.speak`, the
  evaluation path, for the same completion); silence from the talker scores 1 (`empty_response`); a talker error is a
  missing reward counted as `talker_failed`;
- two GRPO steps: the thinker's LoRA changes, the base (thinker, talker, token2wav) does not; every policy forward
  over the prompt carries its audio; the saved settings reproduce the speech in evaluation;
- the example script runs its CPU recipe (`examples/configs/grpo_omni_cpu_smoke.yaml`);
- `train_talker` (issue 24, option 2): the talker's teacher-forced codec log-probs equal those it sampled from; two
  GRPO steps move the talker's LoRA (never its base) and the thinker's; the talker adapter is saved beside the
  thinker's and `--system omni --adapter` merges it.
"""

import json
import os

import numpy as np
import pytest
import torch
from test_grpo import AudioSeen, grpo_args, inner_model, lora_config, trainable_snapshot

from parass2s_hf.align import ParaS2SGRPOTrainer
from parass2s_hf.align.omni_policy import OMNI_POLICY_FILE, OmniPolicy, OmniSpeechReward, waveform_sha256

FAST = {"talker_max_new_tokens": 6, "talker_eos_token_id": [61], "token2wav_num_steps": 2}
"""The tiny Omni's talker and vocoder arguments, cut short (about 0.1 s of audio a completion)."""
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def silent_omni(tmp_path_factory):
    from parass2s_hf.testing import build_tiny_omni

    return build_tiny_omni(str(tmp_path_factory.mktemp("omni_silent")))


@pytest.fixture(scope="module")
def audible_omni(tmp_path_factory):
    from parass2s_hf.testing import build_tiny_omni

    return build_tiny_omni(str(tmp_path_factory.mktemp("omni_audible")), audible=True)


@pytest.fixture(scope="module")
def judge(tiny):
    from parass2s_hf.judge import JudgeConfig, ParaS2SJudge

    return ParaS2SJudge(JudgeConfig(mode="reward_model", audio_llm=tiny["audio_llm"]))


def omni_args(tmp_path, tiny, **kw):
    return grpo_args(tmp_path, tiny, omni_speaker="Chelsie", omni_generate_kwargs=FAST, **kw)


def query(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)


def completions_of(policy, words):
    """Completions as TRL hands them to a reward: the text, and the thinker's ids ending with its end token."""
    tok = policy.builder.tokenizer
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    ids = [tok.encode(w, add_special_tokens=False) + [eos] for w in words]
    return [[{"role": "assistant", "content": w}] for w in words], ids


def test_the_judge_hears_exactly_the_talkers_waveform(audible_omni, silent_omni, judge):
    from parass2s_hf.s2s import build_system

    policy = OmniPolicy.load(audible_omni, speaker="Chelsie", generate_kwargs=FAST)
    reward = OmniSpeechReward(judge, policy)
    audio = query()
    prompt = {"array": audio, "sampling_rate": 16000}
    completions, ids = completions_of(policy, ["How are you today?", "I am fine, thanks.", "", "Score: 3"])
    metrics = {}
    out = reward(prompts=[None] * 4, completions=completions, completion_ids=ids, audio=[prompt] * 4, dimension=["emotion"] * 4,
                 style=["happy"] * 4, log_metric=lambda name, value: metrics.setdefault(name, value))
    assert out[2] == 1.0 and reward.empty["no_words"] == 1  # nothing to say: the minimum, never spoken
    assert all(r is not None and 1.0 < r <= 5.0 for i, r in enumerate(out) if i != 2), out  # sounding: judged
    assert sorted(reward.heard) == [0, 1, 3] and len(set(reward.heard.values())) == 3
    # evaluation (`--system omni`, same speaker, seed rule and generate arguments) speaks the same bytes
    system = build_system("omni", model=audible_omni, device_map=None, speaker="Chelsie", generate_kwargs=FAST)
    row = [{"id": "q", "audio": {"array": audio, "sampling_rate": 16000}}]
    for i in (0, 1, 3):
        [spoken] = system.speak(system.inputs(row), [ids[i]])
        assert waveform_sha256(spoken.audio) == reward.heard[i], i
        assert spoken.info["speech_seed"] == reward.seeds[i]
    assert metrics["parass2s/signals/duration"] > 0 and metrics["parass2s/missing_reward_frac"] == 0
    # the untouched tiny Omni speaks silence: an empty response, scored 1 by the judge's rule
    quiet = OmniSpeechReward(judge, OmniPolicy.load(silent_omni, speaker="Chelsie", generate_kwargs=FAST))
    assert quiet(None, completions[:2], completion_ids=ids[:2], audio=[prompt] * 2) == [1.0, 1.0]
    assert quiet.empty["empty_response"] == 2 and not quiet.missing
    # a talker error is that completion's missing reward, counted by reason
    broken = OmniSpeechReward(judge, policy)
    speak = policy.speak
    policy.speak = lambda audio, completion_ids, inputs=None: (
        (_ for _ in ()).throw(RuntimeError("talker broke")) if len(completion_ids) > 5 else speak(
            audio, completion_ids, inputs))
    try:
        got = broken(None, completions[:2], completion_ids=[ids[0][:3], ids[1]], audio=[prompt] * 2)
    finally:
        policy.speak = speak
    assert got[0] is not None and got[1] is None and broken.missing == {"talker_failed": 1}


@pytest.mark.slow
def test_grpo_two_steps_train_the_omni_thinkers_adapter(tmp_path, tiny, prompts, audible_omni, judge):
    trainer = ParaS2SGRPOTrainer(model=audible_omni, args=omni_args(tmp_path, tiny), train_dataset=prompts.select(
        range(2)), peft_config=lora_config(), judge=judge)
    assert trainer.omni is not None and trainer.model.get_base_model() is trainer.omni.thinker
    speech = trainer.omni.model
    seen = AudioSeen(inner_model(trainer.model), trainer.omni.thinker.config.audio_token_index)
    before = trainable_snapshot(trainer.model)
    speech_before = {n: p.detach().clone() for n, p in speech.named_parameters() if not n.startswith("thinker.")}
    trainer.train()
    after = trainable_snapshot(trainer.model)
    lora = [n for n in before if "lora_B" in n]
    assert lora and any(not torch.equal(before[n], after[n]) for n in lora)
    assert all(torch.equal(before[n], after[n]) for n in before if "lora_" not in n)
    assert all(torch.equal(p, dict(speech.named_parameters())[n]) for n, p in speech_before.items())
    # generation, old/reference log-probs and the loss: every forward over the audio placeholders got the audio
    assert seen.without == 0 and seen.with_audio >= 4 and trainer.audio_forwards >= 4
    logs = trainer.state.log_history[0]
    assert 1 <= logs["rewards/parass2s_judge/mean"] <= 5 and logs["parass2s/group_reward_std"] > 0
    assert logs["parass2s/signals/duration"] > 0 and logs["parass2s/missing_rewards"] == 0
    assert not any(m.training for m in (trainer.omni.model.talker,))  # the talker is never put in training mode
    # the settings saved beside the adapter speak as training did
    trainer.save_model(str(tmp_path / "saved"))
    settings = json.loads((tmp_path / "saved" / OMNI_POLICY_FILE).read_text())
    assert settings["speaker"] == "Chelsie" and settings["generate_kwargs"] == FAST and settings["seed"] == 0
    assert settings["system"] == "omni" and "--voice Chelsie" in settings["evaluate"]
    assert settings["system_kwargs"]["adapter"] == str(tmp_path / "saved")
    assert (tmp_path / "saved" / "adapter_model.safetensors").exists()
    # the trained (LoRA-wrapped) thinker drives the talker in the reward: its speech is the policy's, seeded the same
    reward = trainer.reward_funcs[0]
    audio = query(seed=3)
    completions, ids = completions_of(trainer.omni, ["How are you today?"])
    reward(None, completions, completion_ids=ids, audio=[{"array": audio, "sampling_rate": 16000}])
    from parass2s_hf.models.omni_inputs import unpadded_row
    from parass2s_hf.s2s.omni import speak_completion, speech_seed

    trainer.omni.thinker.eval()
    wav = speak_completion(trainer.omni.model, unpadded_row(trainer.omni.encode(audio), 0), ids[0],
                           speech_seed(ids[0], 0), speaker="Chelsie", **FAST)
    assert waveform_sha256(wav) == reward.heard[0]
    # evaluation with the saved adapter (`--system omni --adapter`, the saved settings) loads it unmerged, as the
    # trainer held it: the same completion is the same waveform, byte for byte
    from parass2s_hf.s2s import build_system

    kwargs = {k: v for k, v in settings["system_kwargs"].items() if v is not None}
    system = build_system("omni", device_map=None, **kwargs)
    [spoken] = system.speak(system.inputs([{"id": "q", "audio": {"array": audio, "sampling_rate": 16000}}]), ids)
    assert spoken.info["speech_seed"] == reward.seeds[0] and spoken.audio.shape == wav.shape
    assert np.array_equal(spoken.audio, wav)


def test_an_omni_policy_without_a_lora_or_a_talker_trained_without_its_reward_is_refused(tmp_path, tiny, prompts,
                                                                                          silent_omni, judge):
    with pytest.raises(ValueError, match="LoRA on its thinker"):
        ParaS2SGRPOTrainer(model=silent_omni, args=omni_args(tmp_path, tiny), train_dataset=prompts, judge=judge)
    # train_talker trains on the codec tokens the policy's own talker sampled in the reward: another reward has none
    with pytest.raises(ValueError, match="train_talker needs exactly one reward"):
        ParaS2SGRPOTrainer(model=silent_omni, reward_funcs=[lambda completions, **kw: [1.0] * len(completions)],
                           args=omni_args(tmp_path, tiny, train_talker=True), train_dataset=prompts,
                           peft_config=lora_config())


@pytest.mark.parametrize("with_lora", [False, True])
def test_the_talkers_teacher_forced_log_probs_are_those_it_sampled_from(audible_omni, with_lora):
    from parass2s_hf.align.omni_policy import add_talker_lora, talker_token_logps

    policy = OmniPolicy.load(audible_omni, speaker="Chelsie", generate_kwargs=FAST)
    if with_lora:  # a trained-looking talker LoRA (B is zero when made)
        torch.manual_seed(0)
        with torch.no_grad():
            for p in add_talker_lora(policy.model, r=4, alpha=8):
                p.add_(0.05 * torch.randn_like(p))
    policy.capture_talker = True
    _, [ids] = completions_of(policy, ["How are you today?"])
    sampled = []  # the logits each decoding step of `generate` sampled from
    hook = policy.model.talker.register_forward_hook(lambda m, a, out: sampled.append(out.logits[0, -1].clone()))
    try:
        reply = policy.speak(query(), ids)
    finally:
        hook.remove()
    sample = reply.talker
    assert sample is not None and 1 <= len(sample) <= FAST["talker_max_new_tokens"] and len(sampled) >= len(sample)
    assert sample.temperature == 0.9 and sample.suppress_tokens == (policy.model.talker.codec_bos_token,)
    expected = []
    for step, code in enumerate(sample.codes.tolist()):
        logits = sampled[step].float() / sample.temperature
        logits[list(sample.suppress_tokens)] = float("-inf")
        expected.append(torch.log_softmax(logits, -1)[code])
    got = talker_token_logps(policy.model.talker, sample)
    assert got.requires_grad or not with_lora  # gradients reach the talker LoRA
    torch.testing.assert_close(got.detach(), torch.stack(expected), rtol=0, atol=1e-5)
    # the same completion spoken again without capture: the same waveform (capture changes nothing)
    policy.capture_talker = False
    assert waveform_sha256(policy.speak(query(), ids).array) == waveform_sha256(reply.array)


@pytest.mark.slow
def test_grpo_with_train_talker_trains_both_adapters_and_evaluation_loads_them(tmp_path, tiny, prompts,
                                                                               audible_omni, judge):
    from parass2s_hf.align.omni_policy import TALKER_ADAPTER_DIR

    trainer = ParaS2SGRPOTrainer(model=audible_omni, args=omni_args(tmp_path, tiny, train_talker=True,
                                                                    talker_lora_r=4, talker_lora_alpha=8),
                                 train_dataset=prompts.select(range(2)), peft_config=lora_config(), judge=judge)
    speech = trainer.omni.model
    talker_lora = {n: p for n, p in speech.talker.named_parameters() if p.requires_grad}
    assert talker_lora and all("lora_" in n for n in talker_lora) and trainer.talker_params
    thinker_before = trainable_snapshot(trainer.model)
    talker_before = {n: p.detach().clone() for n, p in speech.talker.named_parameters()}
    vocoder_before = {n: p.detach().clone() for n, p in speech.token2wav.named_parameters()}
    trainer.train()
    assert any(p is trainer.talker_params[0] for g in trainer.optimizer.param_groups for p in g["params"])
    talker_after = dict(speech.talker.named_parameters())
    changed = [n for n in talker_before if not torch.equal(talker_before[n], talker_after[n])]
    assert changed and all("lora_" in n for n in changed)  # the talker's LoRA moved, never its base
    assert any("lora_B" in n for n in changed)
    assert all(torch.equal(p, dict(speech.token2wav.named_parameters())[n]) for n, p in vocoder_before.items())
    thinker_after = trainable_snapshot(trainer.model)
    assert any(not torch.equal(thinker_before[n], thinker_after[n]) for n in thinker_before if "lora_B" in n)
    logged = [e for e in trainer.state.log_history if "parass2s/talker_loss" in e]
    assert len(logged) == 2 and all(e["parass2s/talker_codec_tokens"] > 0 for e in logged)
    assert all(np.isfinite(e["parass2s/talker_loss"]) and "parass2s/talker_grad_norm" in e for e in logged)
    assert not speech.talker.training
    # saved beside the thinker's adapter, recorded in the settings, loaded by `--system omni --adapter`
    trainer.save_model(str(tmp_path / "saved"))
    settings = json.loads((tmp_path / "saved" / OMNI_POLICY_FILE).read_text())
    assert settings["talker_adapter"] == TALKER_ADAPTER_DIR
    assert (tmp_path / "saved" / TALKER_ADAPTER_DIR / "adapter_model.safetensors").exists()
    audio = query(seed=3)
    _, ids = completions_of(trainer.omni, ["How are you today?"])
    trained = trainer.omni.speak(audio, ids[0])  # captured: what the trained talker sampled
    from parass2s_hf.align.omni_policy import talker_token_logps
    from parass2s_hf.s2s import build_system

    def logps(talker):
        with torch.no_grad():
            return talker_token_logps(talker, trained.talker)

    kwargs = {k: v for k, v in settings["system_kwargs"].items() if v is not None}
    system = build_system("omni", device_map=None, **kwargs)
    [spoken] = system.speak(system.inputs([{"id": "q", "audio": {"array": audio, "sampling_rate": 16000}}]), ids)
    assert spoken.info["speech_seed"] == trained.seed and spoken.audio.shape == trained.array.shape
    assert np.array_equal(spoken.audio, trained.array)  # both adapters unmerged: the reward's speech, byte for byte
    torch.testing.assert_close(logps(system.model.talker), logps(speech.talker), rtol=0, atol=1e-5)
    # without the talker adapter evaluation's talker is the untrained one (its codec log-probs differ)
    import shutil

    shutil.rmtree(tmp_path / "saved" / TALKER_ADAPTER_DIR)
    plain = build_system("omni", device_map=None, **kwargs)
    assert not torch.equal(logps(plain.model.talker), logps(system.model.talker))
    assert plain.config()["adapter_sha256"] != system.config()["adapter_sha256"]  # the talker adapter is fingerprinted


@pytest.mark.slow
def test_train_talker_keeps_the_old_log_probs_when_the_talker_moves_between_sampling_and_loss(tmp_path, tiny, prompts,
                                                                                             audible_omni, judge):
    # two optimizer steps per generation batch: the second step's talker has moved since it sampled
    trainer = ParaS2SGRPOTrainer(model=audible_omni, args=omni_args(tmp_path, tiny, train_talker=True,
                                                                    steps_per_generation=2, talker_lora_r=4),
                                 train_dataset=prompts.select(range(2)), peft_config=lora_config(), judge=judge)
    trainer.train()
    kept = [s for s in trainer._talker_batch if s is not None]
    assert kept and all(s.old_logps is not None and s.old_logps.shape == s.codes.shape for s in kept)
    from parass2s_hf.align.omni_policy import talker_token_logps

    with torch.no_grad():  # the talker moved after sampling: the ratio of the second step is not 1
        assert any(not torch.equal(talker_token_logps(trainer.omni.model.talker, s), s.old_logps) for s in kept)
    logged = [e for e in trainer.state.log_history if "parass2s/talker_loss" in e]
    assert len(logged) == 2 and all(np.isfinite(e["parass2s/talker_loss"]) for e in logged)


@pytest.mark.slow
def test_the_grpo_example_runs_its_omni_cpu_recipe(tmp_path, tiny, silent_omni):
    from conftest import load_example

    example = load_example("train_grpo.py")
    config = os.path.join(REPO, "examples", "configs", "grpo_omni_cpu_smoke.yaml")
    script_args, training_args, model_args = example.build_parser().parse_args_and_config(
        ["--config", config, "--model_name_or_path", silent_omni, "--output_dir", str(tmp_path / "run"),
         "--judge_config", f'{{"mode": "reward_model", "audio_llm": "{tiny["audio_llm"]}"}}'])
    assert training_args.omni_speaker == "Chelsie" and training_args.omni_generate_kwargs["talker_eos_token_id"] == [61]
    trainer = example.main(script_args, training_args, model_args)
    assert trainer.state.global_step == 2 and trainer.omni is not None
    assert (tmp_path / "run" / "adapter_model.safetensors").exists() and (tmp_path / "run" / OMNI_POLICY_FILE).exists()
    # the untouched tiny talker speaks silence: every reply an empty response, scored 1, none missing
    logged = [e for e in trainer.state.log_history if "parass2s/missing_reward_frac" in e]
    assert logged and all(e["parass2s/missing_reward_frac"] == 0 for e in logged)
    assert trainer.reward_funcs[0].empty["empty_response"] > 0


def test_the_omni_gpu_recipe_parses(tmp_path):
    from conftest import load_example

    example = load_example("train_grpo.py")
    config = os.path.join(REPO, "examples", "configs", "grpo_omni_qlora.yaml")
    _script_args, args, model_args = example.build_parser().parse_args_and_config(
        ["--config", config, "--bf16", "false", "--use_cpu", "true", "--output_dir", str(tmp_path)])
    assert model_args.model_name_or_path == "Qwen/Qwen2.5-Omni-7B" and model_args.load_in_4bit and model_args.use_peft
    assert args.omni_speaker == "Chelsie" and args.beta == 0.2 and not args.train_talker
    assert args.talker_lora_r == 16 and args.talker_lora_alpha == 32 and args.talker_loss_weight == 1.0
