"""GRPO on streamed prompts (`IterableDataset`, no `column_names`), checked lazily as batches are drawn, and
`max_prompt_seconds` applied to every prompt (map-style upfront, streamed lazily, and again at encoding)."""

import numpy as np
import pytest
from datasets import Dataset, IterableDataset
from test_grpo import grpo_args, lora_config

from parass2s_hf.align import InvalidPromptAudioError, ParaS2SGRPOTrainer, to_policy_rows
from parass2s_hf.align.data import LazyPromptCheck


def tone(seconds, freq=220.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def rows(prompts, extra=()):
    out = [{"id": r["id"], "audio": {"array": r["audio"].get_all_samples().data.numpy().reshape(-1),
                                     "sampling_rate": 16000}, "dimension": r["dimension"], "style": r["style"]}
           for r in prompts]
    return out + list(extra)


def test_a_40_second_prompt_is_refused_by_a_30_second_limit_or_dropped(prompts):
    long = {"id": "long-one", "audio": {"array": tone(40.0), "sampling_rate": 16000}, "dimension": "emotion",
            "style": "happy"}
    data = Dataset.from_list(rows(prompts, [long]))
    with pytest.raises(InvalidPromptAudioError, match=r"long-one.*(too long|longer|40)"):
        to_policy_rows(data, max_seconds=30.0)
    kept = to_policy_rows(data, max_seconds=30.0, drop_invalid=True)
    assert len(kept) == len(data) - 1 and "long-one" not in kept["id"]
    assert len(to_policy_rows(data, max_seconds=45.0)) == len(data)


def test_the_trainer_applies_max_prompt_seconds(tmp_path, tiny, prompts):
    long = {"id": "long-one", "audio": {"array": tone(40.0), "sampling_rate": 16000}, "dimension": "emotion",
            "style": "happy"}
    data = Dataset.from_list(rows(prompts, [long]))
    with pytest.raises(InvalidPromptAudioError, match="long-one"):
        ParaS2SGRPOTrainer(model=tiny["audio_llm"], args=grpo_args(tmp_path, tiny, max_prompt_seconds=30.0),
                           train_dataset=data, peft_config=lora_config())


def _stream(prompts, extra=()):
    items = rows(prompts, extra)

    def generate():
        yield from items

    stream = IterableDataset.from_generator(generate)
    assert stream.column_names is None  # what TRL's own tests feed: no known columns
    return stream


def test_streamed_prompts_train_and_a_bad_one_is_dropped_and_counted(tmp_path, tiny, prompts):
    broken = {"id": "broken-one", "audio": {"array": np.full(16000, np.nan, np.float32), "sampling_rate": 16000},
              "dimension": "emotion", "style": "happy"}
    stream = _stream(prompts, [broken])
    trainer = ParaS2SGRPOTrainer(model=tiny["audio_llm"], args=grpo_args(tmp_path, tiny, drop_invalid_prompts=True),
                                 train_dataset=stream, peft_config=lora_config())
    trainer.train()
    assert trainer.audio_forwards >= 4 and trainer.state.global_step == 2
    assert sum(trainer.prompt_check.dropped.values()) >= 1  # the NaN prompt, dropped when it was drawn


def test_a_streamed_bad_prompt_raises_without_drop(tiny):
    broken = {"id": "broken-one", "audio": {"array": np.full(16000, np.nan, np.float32), "sampling_rate": 16000}}
    check = LazyPromptCheck("audio", 30.0, drop=False)
    with pytest.raises(InvalidPromptAudioError, match="broken-one"):
        check(broken)
    dropping = LazyPromptCheck("audio", 30.0, drop=True)
    assert dropping(broken) is False and sum(dropping.dropped.values()) == 1
    assert dropping({"id": "text", "prompt": "hi"}) is True  # a text prompt passes
    long = {"id": "long", "audio": {"array": tone(40.0), "sampling_rate": 16000}}
    assert dropping(long) is False and sum(dropping.dropped.values()) == 2
