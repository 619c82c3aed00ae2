"""`--system policy`: a ParaS2SAlign policy (base, SFT-merged, or base + GRPO adapter) evaluated as it was trained:
the same prompt and chat template, the same renderer and voice, so that for one completion the response audio is the
very audio the GRPO reward judged."""

import json
import os

import numpy as np
import pytest

from parass2s_hf import cli
from parass2s_hf.align.policy_settings import POLICY_SETTINGS_FILE, read_policy_settings, write_policy_settings
from parass2s_hf.align.reward import ParaS2SReward
from parass2s_hf.judge import JudgeConfig, JudgeResult
from parass2s_hf.s2s import S2SResponse, build_system, system_fingerprint


class CapturingJudge:
    """Records the response audio the reward hands to the judge."""

    def __init__(self):
        self.config = JudgeConfig(mode="reward_model")
        self.items = []

    def score(self, items):
        self.items += items
        return [JudgeResult(score=3, score_expected=3.0, status="ok") for _ in items]


@pytest.fixture(scope="module")
def adapter(tiny, tmp_path_factory):
    """A LoRA adapter on the tiny audio LLM's language model, its B matrices made non-zero so that it changes the
    policy (a fresh LoRA is the identity)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForMultimodalLM

    model = AutoModelForMultimodalLM.from_pretrained(tiny["audio_llm"])
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8,
                                                  target_modules=r".*language_model.*\.(q_proj|v_proj)"))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 2.0)
    folder = tmp_path_factory.mktemp("grpo_adapter")
    peft_model.save_pretrained(folder)
    return str(folder)


def policy(tiny, **kwargs):
    return build_system("policy", model=tiny["audio_llm"], max_new_tokens=kwargs.pop("max_new_tokens", 8), **kwargs)


def test_for_one_completion_the_response_is_the_audio_the_grpo_reward_judged(tiny, sample_test):
    system = policy(tiny)
    rows = [sample_test[0], sample_test[1]]
    completions = ["[style: sympathetic] I am so sorry to hear that.", *system.completions(rows[1:])]
    judge = CapturingJudge()
    reward = ParaS2SReward(judge, "espeak-ng")
    rewards = reward([None] * 2, completions, audio=[r["audio"] for r in rows],
                     dimension=[r["dimension"] for r in rows], style=[r["style"] for r in rows])
    assert rewards == [3.0, 3.0]
    for completion, item in zip(completions, judge.items):
        response = system.speak(completion)
        assert isinstance(response, S2SResponse) and response.error is None
        assert response.sampling_rate == item.sampling_rate
        assert np.asarray(response.audio, np.float32).tobytes() == np.asarray(item.response_audio, np.float32).tobytes()
    assert system.speak(completions[0]).info["reply_style"] == "sympathetic"


def test_a_reply_without_words_is_an_empty_response_as_its_reward_is_the_minimum(tiny):
    response = policy(tiny).speak("[style: warm] ...")
    assert response.audio.size == 0 and response.error is None


def test_the_policy_answers_sample_rows_and_an_adapter_changes_it(tiny, adapter, sample_test):
    rows = [sample_test[i] for i in range(3)]
    base, tuned = policy(tiny), policy(tiny, adapter=adapter)
    assert base._backend is None  # nothing loads before the first query
    base_out, tuned_out = base.completions(rows), tuned.completions(rows)
    assert len(base_out) == len(tuned_out) == 3 and base_out != tuned_out
    assert base.completions(rows) == base_out  # greedy: reproducible
    for response in tuned.respond(rows):
        assert response.error is None and response.text is not None
    json.dumps(tuned.config())
    assert system_fingerprint(base) != system_fingerprint(tuned)
    sampled = policy(tiny, temperature=1.0)
    assert sampled.completions(rows, sample_index=1) == sampled.completions(rows, sample_index=1)  # seeded per sample


def test_training_settings_beside_the_weights_are_used_and_arguments_override_them(tiny, adapter, tmp_path):
    assert read_policy_settings(adapter) == {}  # a bare adapter: the package's defaults
    write_policy_settings(adapter, system_prompt="Answer kindly.", voice_key="narrator", max_new_tokens=5)
    try:
        system = policy(tiny, adapter=adapter, max_new_tokens=None)
        assert (system.system_prompt, system.voice_key, system.max_new_tokens) == ("Answer kindly.", "narrator", 5)
        assert system.settings_source.endswith(POLICY_SETTINGS_FILE)
        assert policy(tiny, adapter=adapter, max_new_tokens=7, voice_key="assistant").config()["max_new_tokens"] == 7
    finally:  # the module's adapter is shared with the other tests
        os.remove(os.path.join(adapter, POLICY_SETTINGS_FILE))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / POLICY_SETTINGS_FILE).write_text('{"sytem_prompt": "typo"}')
    with pytest.raises(ValueError, match="sytem_prompt"):
        read_policy_settings(str(bad))


def test_parass2s_evaluate_system_policy_writes_the_report_base_and_with_an_adapter(tiny, adapter, tmp_path, capsys):
    judge = ["--judge_mode", "reward_model", "--judge_audio_llm", tiny["audio_llm"], "--n_resamples", "50"]
    for name, extra in (("base", []), ("grpo", ["--adapter", adapter])):
        out = tmp_path / name
        rc = cli.main(["evaluate", "--system", "policy", "--model", tiny["audio_llm"], *extra, "--max_new_tokens", "8",
                       "--dataset_config", "sample", "--limit", "1", "--output", str(out), *judge])
        assert rc == 0, capsys.readouterr().err
        assert "policy" in (out / "report.md").read_text()
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["system"]["config"]["adapter"] == (adapter if extra else None)
    capsys.readouterr()
    rc = cli.main(["evaluate", "--system", "policy", "--model", tiny["audio_llm"], "--adapter", str(tmp_path / "none"),
                   "--dataset_config", "sample", "--output", str(tmp_path / "x"), *judge])
    assert rc == 2 and "--adapter" in capsys.readouterr().err
