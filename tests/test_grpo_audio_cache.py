"""The frozen audio tower runs once per distinct prompt of a GRPO generation batch (`AudioTowerCache`), with the same
losses as without the cache; it is off when the tower trains."""

import math

import pytest
import torch
from test_grpo import grpo_args, lora_config

from parass2s_hf.align import ParaS2SGRPOTrainer
from parass2s_hf.models.audio_cache import AudioTowerCache


def train(tmp_path, tiny, prompts, cache, name):
    torch.manual_seed(0)
    args = grpo_args(tmp_path / name, tiny, cache_audio_tower=cache, seed=0, max_steps=2, beta=0.2)
    trainer = ParaS2SGRPOTrainer(model=tiny["audio_llm"], args=args, train_dataset=prompts, peft_config=lora_config())
    tower = AudioTowerCache.find_tower(trainer.model)
    calls = []
    handle = tower.register_forward_pre_hook(lambda module, args_: calls.append(args_[0].shape[0]))
    trainer.train()
    handle.remove()
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return trainer, losses, calls


def test_the_tower_runs_once_per_distinct_prompt_with_the_same_losses(tmp_path, tiny, prompts):
    plain, plain_losses, plain_calls = train(tmp_path, tiny, prompts, False, "plain")
    cached, cached_losses, _ = train(tmp_path, tiny, prompts, True, "cached")
    assert plain.audio_cache is None and cached.audio_cache is not None
    # one distinct prompt per step here (4 rows = 1 prompt x 4 generations), 2 steps
    assert cached.audio_cache.rows_computed == 2, cached.audio_cache.rows_computed
    # without the cache every row is encoded in every forward (generation, reference log-probs, loss: 12 a step);
    # with it the same forwards are served, all but one row a step from the cache
    assert sum(plain_calls) == 24 == cached.audio_cache.rows_computed + cached.audio_cache.rows_served
    assert len(plain_losses) == len(cached_losses) == 2
    for a, b in zip(plain_losses, cached_losses):
        assert math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6), (plain_losses, cached_losses)


def test_the_cache_is_off_when_the_tower_trains(tiny):
    from transformers import AutoModelForMultimodalLM

    model = AutoModelForMultimodalLM.from_pretrained(tiny["audio_llm"])
    for p in AudioTowerCache.find_tower(model).parameters():
        p.requires_grad_(True)
    assert AudioTowerCache.install(model) is None
    for p in model.parameters():
        p.requires_grad_(False)
    assert AudioTowerCache.install(model, sharded=True) is None
    cache = AudioTowerCache.install(model)
    assert cache is not None and AudioTowerCache.install(model) is cache
    cache.uninstall()


def test_cached_rows_equal_the_towers_own(tiny, sample_test):
    from transformers import AutoModelForMultimodalLM, AutoProcessor

    from parass2s_hf.align.prompts import encode_policy_prompt, policy_prompt

    model = AutoModelForMultimodalLM.from_pretrained(tiny["audio_llm"]).eval()
    processor = AutoProcessor.from_pretrained(tiny["audio_llm"])
    for p in model.parameters():
        p.requires_grad_(False)
    clips = [sample_test[i]["audio"].get_all_samples().data.numpy().reshape(-1) for i in (0, 1, 0)]
    parts = [encode_policy_prompt(processor, clip, policy_prompt()) for clip in clips]
    features = torch.cat([p["input_features"] for p in parts])
    tower = AudioTowerCache.find_tower(model)
    with torch.no_grad():
        expected = tower(features).last_hidden_state
        cache = AudioTowerCache.install(model)
        got = tower(features).last_hidden_state
        again = tower(features).last_hidden_state
    cache.uninstall()
    assert cache.rows_computed == 2 and cache.rows_served == 1 + 3  # the repeated clip, then all three
    assert torch.allclose(got, expected, atol=1e-5) and torch.equal(got, again)


@pytest.mark.slow  # about 6 s: a pool of two renderer processes (.ci/run runs it)
def test_replies_spoken_by_two_workers_are_the_same_audio_in_the_same_order(sample_test):
    import numpy as np

    from parass2s_hf.align.reward import speak_reply
    from parass2s_hf.render import get_renderer
    from parass2s_hf.render.parallel import render_all

    renderer = get_renderer("espeak-ng")
    jobs = [(renderer, style, f"Reply number {k}, said in a {style} voice.", "assistant")
            for k, style in enumerate(["warm", "cheerful", "calm", "serious", "gentle", "firm"])]
    jobs.append((renderer, "warm", "x" * 100000, "assistant"))  # too long to speak: its own failure, in its place
    one = render_all(renderer, jobs, speak_reply, workers=1)
    two = render_all(renderer, jobs, speak_reply, workers=2)
    assert isinstance(one[-1], Exception) and isinstance(two[-1], Exception)
    for a, b in zip(one[:-1], two[:-1]):
        assert a.sampling_rate == b.sampling_rate and np.array_equal(a.array, b.array)


@pytest.mark.parametrize("mode", ["reward_model", "end2end"])
def test_the_judge_encodes_a_groups_query_once_with_the_same_scores(tiny, mode):
    import numpy as np

    from parass2s_hf.judge import JudgeConfig, JudgeItem, ParaS2SJudge

    t = np.arange(16000 * 2) / 16000
    query = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    responses = [(0.3 * np.sin(2 * np.pi * (250 + 20 * k) * t[:16000])).astype(np.float32) for k in range(8)]
    items = [JudgeItem(query, r, 16000, dimension="emotion", query_style="sad") for r in responses]
    config = JudgeConfig(mode=mode, audio_llm=tiny["audio_llm"], batch_size=8, max_retries=0,
                         rubric_max_new_tokens=4)
    cached = ParaS2SJudge(config)
    with_cache = cached.score(items)
    backend = cached.reward if mode == "reward_model" else cached.audio_llm
    stats = dict(backend.stats)
    assert stats["audio_clips"] == 16 and stats["audio_clips_encoded"] == 9  # 1.125 clips per pair, the floor
    plain = ParaS2SJudge(config)
    other = plain.reward if mode == "reward_model" else plain.audio_llm
    other.tower_cache.uninstall()
    other.tower_cache = None
    without = plain.score(items)
    for a, b in zip(with_cache, without):
        assert a.status == b.status and a.score == b.score
        assert (a.score_expected is None and b.score_expected is None) or math.isclose(
            a.score_expected, b.score_expected, rel_tol=1e-4, abs_tol=1e-5)
