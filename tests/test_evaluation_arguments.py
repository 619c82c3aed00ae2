"""`JudgeArguments` is written out field by field: it must stay `JudgeConfig` with every field prefixed `judge_`."""

import dataclasses
import typing

from parass2s_hf.evaluation.arguments import JudgeArguments
from parass2s_hf.judge.config import JudgeConfig


def test_judge_arguments_match_judge_config_field_for_field():
    config = {f.name: f for f in dataclasses.fields(JudgeConfig)}
    arguments = {f.name: f for f in dataclasses.fields(JudgeArguments)}
    assert sorted(arguments) == sorted(f"judge_{name}" for name in config)
    config_hints = typing.get_type_hints(JudgeConfig)
    argument_hints = typing.get_type_hints(JudgeArguments)
    for name, f in config.items():
        ours = arguments[f"judge_{name}"]
        if name == "style_analyzers":  # a dict, given on the command line as dimension=checkpoint pairs
            assert argument_hints[ours.name] == list[str] | None and ours.default is None
            continue
        assert argument_hints[ours.name] == config_hints[name], name
        assert ours.default == f.default, name
        assert ours.metadata["help"] == f"judge: {f.metadata['help']}", name


def test_judge_arguments_build_the_config_they_describe():
    args = JudgeArguments(judge_mode="reward_model", judge_audio_llm="my/audio-llm", judge_batch_size=2,
                          judge_style_analyzers=["gender=my/gender", "age=my/age"])
    config = args.to_config()
    assert (config.mode, config.audio_llm, config.batch_size) == ("reward_model", "my/audio-llm", 2)
    assert config.style_analyzers == {"gender": "my/gender", "age": "my/age"}
    assert JudgeArguments().to_config() == JudgeConfig()


def test_a_record_takes_the_judgement_fields_as_the_judge_declares_them():
    from parass2s_hf.evaluation.records import JUDGEMENT_FIELDS, ItemRecord
    from parass2s_hf.judge.items import JudgeResult

    assert set(JUDGEMENT_FIELDS) == {"status", "score", "score_expected", "content_score", "style_score", "reason",
                                     "perception", "rationale"}
    result_fields = {f.name: f for f in dataclasses.fields(JudgeResult)}
    record_fields = {f.name: f for f in dataclasses.fields(ItemRecord)}
    result_hints, record_hints = typing.get_type_hints(JudgeResult), typing.get_type_hints(ItemRecord)
    for name in JUDGEMENT_FIELDS:
        assert record_hints[name] == result_hints[name], name
        if name != "status":  # a record's status has no default: every record says how it ended
            assert record_fields[name].default == result_fields[name].default, name
            assert record_fields[name].default_factory == result_fields[name].default_factory, name
    result = JudgeResult(score=4, score_expected=3.8, content_score=4, style_score=3, rationale="fits",
                         perception={"query_style": "happy"}, status="ok", item_id="x", raw="raw answer")
    record = ItemRecord.from_result(result, id="x", sample=0, system_fingerprint="S", judge_fingerprint="J",
                                    subset="emotion", dimension="emotion", style="happy")
    assert (record.score, record.score_expected, record.content_score, record.style_score, record.rationale,
            record.perception, record.status) == (4, 3.8, 4, 3, "fits", {"query_style": "happy"}, "ok")
