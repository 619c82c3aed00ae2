"""The rubric as in the paper (role, general rules, five levels; reasons before the score), the reward model's prompt,
and the paper's judge ablations as switches that change the prompt and the fingerprint and reach every user."""

import json

import pytest
from test_judge import QUERY, REPLIES, ScriptedASR, ScriptedAudioLLM, ScriptedRubric

from parass2s_hf.judge import JudgeConfig, JudgeItem, ParaS2SJudge, prompts


def test_the_rubric_follows_the_papers_structure():
    rubric = prompts.RUBRIC
    assert rubric.index("dialogue expert") < rubric.index("General rules") < rubric.index("Levels")
    levels = rubric[rubric.index("Levels"):]
    for level in ("5 Perfect", "4 Excellent", "3 Average", "2 Poor", "1 Very poor"):
        assert level in levels
    four = levels[levels.index("4 Excellent"):levels.index("3 Average")]
    assert "neutral tone" in four and "not match" not in four  # the old level 4 let a contradicting voice score 4
    assert "contradicts the cue" in levels and "2 or" in levels and "below" in levels
    assert "childish tone to an adult" in levels[levels.index("1 Very poor"):]
    for rule in ("children", "sarcas", "gender", "volume and speed", "comfort their sadness"):
        assert rule in rubric
    # reasons first, then the scores
    instruction = prompts.JSON_INSTRUCTION
    assert instruction.index('"rationale"') < instruction.index('"content_score"') < instruction.index('"score"')
    assert "content_score applies" in instruction and "style_score applies" in instruction


def test_multistage_and_end2end_use_the_same_rubric():
    messages = prompts.rubric_messages(query_text="q", query_style="sad", dimension="emotion", response_text="r",
                                       response_tone="calm", requirement="comfort")
    assert messages[0]["content"] == prompts.RUBRIC
    end2end = prompts.end2end_conversation(dimension="emotion", requirement="comfort")[0]["content"][-1]["text"]
    assert prompts.RUBRIC in end2end and prompts.JSON_INSTRUCTION in end2end


def test_reward_prompt_hears_two_clips_and_reads_the_rubric_notes_only_when_asked():
    def text(**kw):
        conv = prompts.reward_conversation(dimension="age", requirement="speaks simply to a child", **kw)
        assert sum(part["type"] == "audio" for part in conv[0]["content"]) == 2
        return conv[0]["content"][-1]["text"]

    plain, noted = text(), text(notes=True)
    assert prompts.RUBRIC in plain and "single digit" in plain
    assert "age" not in plain.split(prompts.RUBRIC)[1] and "speaks simply" not in plain
    assert "query speaker's age" in noted and "speaks simply to a child" in noted
    assert JudgeConfig().reward_prompt_notes is False


def test_distillation_prompts_are_the_judges(tiny):
    from transformers import AutoProcessor

    from parass2s_hf.distill import RewardModelCollator

    processor = AutoProcessor.from_pretrained(tiny["audio_llm"])
    pair = {"dimension": "age", "requirement": "speaks simply to a child"}
    for notes in (False, True):
        judge_prompt = processor.apply_chat_template(
            prompts.reward_conversation(**pair, notes=notes), add_generation_prompt=True, tokenize=False)
        assert RewardModelCollator(processor, prompt_notes=notes).prompt(pair) == judge_prompt
    assert "speaks simply" not in RewardModelCollator(processor).prompt(pair)  # the default reaches training


def _judge(**kw):
    return ParaS2SJudge(JudgeConfig(**kw), asr=ScriptedASR(), audio_llm=ScriptedAudioLLM(style="sad"),
                        rubric=ScriptedRubric(['{"rationale": "fine", "score": 4}']))


def test_use_response_tone_off_is_O1_no_tone_stage_and_no_tone_in_the_prompt():
    item = JudgeItem(QUERY, REPLIES[0], 16000, dimension="emotion", query_style="happy")
    o2 = _judge()
    [r2] = o2.score([item])
    assert "How the response sounds" in o2.rubric.seen[0][1]["content"] and r2.perception["response_tone"]
    assert o2.audio_llm.stats["calls"] == 1
    o1 = _judge(use_response_tone=False)
    [r1] = o1.score([item])
    assert "How the response sounds" not in o1.rubric.seen[0][1]["content"]
    assert r1.perception["response_tone"] is None and o1.audio_llm.stats["calls"] == 0  # no tone stage at all
    assert JudgeConfig(use_response_tone=False).fingerprint() != JudgeConfig().fingerprint()


def test_query_labels_predicted_is_O5_the_label_is_predicted_even_when_given():
    item = JudgeItem(QUERY, REPLIES[0], 16000, dimension="emotion", query_style="happy")
    [given] = _judge().score([item])
    assert (given.perception["query_style"], given.perception["query_style_source"]) == ("happy", "label")
    o5 = _judge(query_labels="predicted")
    [predicted] = o5.score([item])
    assert (predicted.perception["query_style"], predicted.perception["query_style_source"]) == ("sad", "audio_llm")
    assert predicted.perception["query_style_given"] == "happy"
    assert "(emotion): sad" in o5.rubric.seen[0][1]["content"]
    assert JudgeConfig(query_labels="predicted").fingerprint() != JudgeConfig().fingerprint()
    with pytest.raises(ValueError, match="query_labels must be one of \\['given', 'predicted'\\], got 'guessed'"):
        JudgeConfig(query_labels="guessed")


def test_every_new_setting_is_in_the_fingerprint():
    base = JudgeConfig().fingerprint()
    for change in ({"reward_prompt_notes": True}, {"min_digit_mass": 0.3}, {"min_response_seconds": 0.0},
                   {"use_response_tone": False}, {"query_labels": "predicted"}):
        assert JudgeConfig(**change).fingerprint() != base, change
    with pytest.raises(ValueError, match="min_digit_mass is a probability"):
        JudgeConfig(min_digit_mass=2)


def test_the_switches_reach_the_command_line_the_metric_and_the_grpo_reward(tmp_path):
    import evaluate
    from transformers import HfArgumentParser

    import parass2s_hf  # noqa: F401
    from parass2s_hf.align import ParaS2SGRPOConfig
    from parass2s_hf.evaluation.arguments import JudgeArguments

    [args] = HfArgumentParser(JudgeArguments).parse_args_into_dataclasses(
        ["--judge_use_response_tone", "false", "--judge_query_labels", "predicted", "--judge_reward_prompt_notes",
         "true", "--judge_min_digit_mass", "0.4"])
    cfg = args.to_config()
    assert (cfg.use_response_tone, cfg.query_labels, cfg.reward_prompt_notes, cfg.min_digit_mass) == \
        (False, "predicted", True, 0.4)
    metric = evaluate.load("parass2s_judge", use_response_tone=False, query_labels="predicted")
    assert (metric.judge_config.use_response_tone, metric.judge_config.query_labels) == (False, "predicted")
    grpo = ParaS2SGRPOConfig(output_dir=str(tmp_path), judge_config=json.dumps({"query_labels": "predicted"}),
                             use_cpu=True, bf16=False)
    assert grpo.judge_config == {"mode": "reward_model", "query_labels": "predicted"}
    with pytest.raises(ValueError, match="query_labels"):
        ParaS2SGRPOConfig(output_dir=str(tmp_path), judge_config={"query_labels": "guessed"}, use_cpu=True, bf16=False)


def test_the_judge_refuses_an_adapter_trained_on_another_reward_prompt(tmp_path, tiny):
    """The report distillation writes beside an adapter says which prompt it learnt; a judge that would give it
    another one refuses before loading anything."""
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    (adapter / "reward_model_report.json").write_text(json.dumps({"judge_config": {"reward_prompt_notes": False}}))
    judge = ParaS2SJudge(JudgeConfig(mode="reward_model", reward_model=tiny["audio_llm"], reward_adapter=str(adapter),
                                     reward_prompt_notes=True))
    with pytest.raises(ValueError, match="was trained with reward_prompt_notes=False"):
        judge.score([JudgeItem(QUERY, REPLIES[0], 16000)])
