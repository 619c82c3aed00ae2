"""`EvaluationConfig`: what to evaluate on, where the run lives, and how the report is computed."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..constants import DIMENSIONS
from .signals import DEFAULT_MAX_SILENCE_RATIO, DEFAULT_MAX_WER, SIGNAL_LEVELS, check_thresholds


@dataclass
class EvaluationConfig:
    """Settings of an evaluation run (`parass2s evaluate`, `EvaluationRunner`).

    Args:
        output_dir (`str`): the run folder (`--output`): response audio, `generations.jsonl`, `results.jsonl`,
            `report.json`, `report.md`, `report.png`, `manifest.json`. Rerunning into it resumes.
        dataset_config (`str`, *optional*, defaults to `"synthetic"`): the ParaS2SBench config (`--dataset_config`): `sample`,
            `emotion`, `sarcasm`, `age`, `gender`, `synthetic`, `iemocap`, `meld` or `all`.
        split (`str`, *optional*, defaults to `"test"`): the split to evaluate.
        data_dir (`str`, *optional*): your own rendered benchmark audio (`data_dir` layout) for the synthetic configs.
        iemocap_dir (`str`, *optional*), meld_dir (`str`, *optional*): the corpora's folders for `iemocap`, `meld` and
            `all`.
        dataset_cache_dir (`str`, *optional*): where the prepared dataset is cached.
        dimensions (`list[str]`, *optional*): evaluate only these dimensions (all when unset).
        limit (`int`, *optional*): at most this many queries per subset (age, emotion, ..., iemocap, meld), in
            dataset order: a quick run that still fills every column.
        num_samples (`int`, *optional*, defaults to `1`): responses per query; their scores are averaged per query
            before anything else. More than one needs a sampling system (e.g. `--temperature 0.7`).
        seed (`int`, *optional*, defaults to `0`): seed of the bootstrap intervals.
        batch_size (`int`, *optional*, defaults to `8`): queries per system call and pairs per judge call. A crash
            loses at most one unfinished batch.
        overwrite (`bool`, *optional*, defaults to `False`): reuse an output folder holding a run with other settings,
            deleting what those settings made (responses are kept when only the judge changed).
        allow_missing (`bool`, *optional*, defaults to `False`): with precomputed responses, score those that exist and
            list the missing ones in the report instead of refusing to start.
        retry_failed (`bool`, *optional*, defaults to `False`): run again the items the system failed on (errors are
            otherwise final, like any finished item).
        repair (`bool`, *optional*, defaults to `False`): a damaged line in the middle of `generations.jsonl` or
            `results.jsonl` (a disk fault, a hand edit) moves to `<file>.rejected` and its item is redone; without it,
            such a line stops the run with an error naming the file and the line.
        num_shards (`int`, *optional*, defaults to `1`), shard_index (`int`, *optional*, defaults to `0`): share the
            run's queries between processes (or GPUs) by a stable rule (a hash of the record id): each shard generates
            and judges its own, into its own `generations.shard-I-of-N.jsonl` / `results.shard-I-of-N.jsonl` under its
            own lock, and resumes alone; the last shard to finish merges every part into the report (or `parass2s
            report RUN` does), identical to a one-process run's. Under `torchrun` / `accelerate launch` they are taken
            from `WORLD_SIZE` and `RANK` when left at their defaults.
        confidence (`float`, *optional*, defaults to `0.95`): level of the bootstrap confidence intervals.
        n_resamples (`int`, *optional*, defaults to `2000`): bootstrap resamples.
        label (`str`, *optional*): the system's name in the report and leaderboard (defaults to the system type).
        push_to_hub (`str`, *optional*): a Hub dataset repo (`user/name`) to upload the report, results and manifest
            to when the run ends (response audio stays local).
        signals (`str`, *optional*, defaults to `"free"`): the objective signals per response in the report
            (`evaluation.signals`): `"free"` (duration, silence ratio, generation time, real-time factor: no model) or
            `"asr"` (also speaking rate and the WER of the response against its own text: the multi-stage judge's
            transcripts where it made them, else one ASR pass with the judge's `asr_model`).
        quality_model (`str`, *optional*): a transformers audio-classification checkpoint whose regression output, or
            expected value over its (numeric) labels, is each response's `quality` signal. None by default.
        max_wer (`float`, *optional*, defaults to `0.5`): a response whose WER is above it is flagged in the report.
        max_silence_ratio (`float`, *optional*, defaults to `0.5`): a response silent for more than this share of its
            length is flagged in the report.
    """

    _argument_group_name = "the run: data, resuming, sharding, report"  # HfArgumentParser's group title (not a field)

    output_dir: str = field(metadata={"help": "run folder (resumable)", "aliases": ["--output"]})
    dataset_config: str = field(default="synthetic", metadata={"help": "ParaS2SBench config: sample, emotion, "
                                                                       "sarcasm, age, gender, synthetic, iemocap, "
                                                                       "meld or all"})
    split: str = field(default="test", metadata={"help": "split to evaluate"})
    data_dir: str | None = field(default=None, metadata={"help": "your rendered benchmark (data_dir layout)"})
    iemocap_dir: str | None = field(default=None, metadata={"help": "IEMOCAP release folder"})
    meld_dir: str | None = field(default=None, metadata={"help": "MELD release folder"})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "prepared dataset cache"})
    dimensions: list[str] | None = field(default=None, metadata={"help": "only these dimensions"})
    limit: int | None = field(default=None, metadata={"help": "at most N queries per subset"})
    num_samples: int = field(default=1, metadata={"help": "responses per query (averaged)"})
    seed: int = field(default=0, metadata={"help": "bootstrap seed"})
    batch_size: int = field(default=8, metadata={"help": "queries per system call / pairs per judge call"})
    overwrite: bool = field(default=False, metadata={"help": "reuse a folder made with other settings"})
    allow_missing: bool = field(default=False, metadata={"help": "score the precomputed responses that exist"})
    retry_failed: bool = field(default=False, metadata={"help": "rerun items the system failed on"})
    repair: bool = field(default=False, metadata={"help": "move damaged log lines to .rejected and redo their items"})
    num_shards: int = field(default=1, metadata={
        "help": "share the items between N processes (set from WORLD_SIZE under torchrun / accelerate launch)"})
    shard_index: int = field(default=0, metadata={"help": "this process's share, 0 .. num_shards-1 (RANK there)"})
    confidence: float = field(default=0.95, metadata={"help": "confidence level of the intervals"})
    n_resamples: int = field(default=2000, metadata={"help": "bootstrap resamples"})
    label: str | None = field(default=None, metadata={"help": "system name in the report"})
    push_to_hub: str | None = field(default=None, metadata={"help": "Hub dataset repo for the results"})
    signals: str = field(default="free", metadata={
        "help": "objective signals per response: free (duration, silence ratio, generation time, real-time factor) "
                "or asr (also speaking rate and WER: an ASR pass where the judge made no transcript)"})
    quality_model: str | None = field(default=None, metadata={
        "help": "audio-classification checkpoint whose regression output (or expected value over numeric labels) is "
                "each response's quality signal"})
    max_wer: float = field(default=DEFAULT_MAX_WER, metadata={"help": "flag responses whose WER is above this"})
    max_silence_ratio: float = field(default=DEFAULT_MAX_SILENCE_RATIO, metadata={
        "help": "flag responses silent for more than this share of their length"})

    def __post_init__(self):
        from ..bench.parass2s_bench import CONFIG_NAMES as configs

        if self.dataset_config not in configs:
            raise ValueError(f"Unknown dataset config {self.dataset_config!r}; expected one of {configs}.")
        if self.split not in ("test", "train"):
            raise ValueError(f"split must be 'test' or 'train', got {self.split!r}.")
        if isinstance(self.dimensions, str):
            self.dimensions = [d for d in self.dimensions.replace(",", " ").split() if d]
        if self.dimensions is not None:
            unknown = [d for d in self.dimensions if d not in DIMENSIONS]
            if unknown or not self.dimensions:
                raise ValueError(f"dimensions {unknown or self.dimensions} not known; expected some of "
                                 f"{list(DIMENSIONS)}.")
        for name in ("num_samples", "batch_size", "n_resamples"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}.")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1 (or unset), got {self.limit!r}.")
        if int(self.num_shards) < 1 or not 0 <= int(self.shard_index) < int(self.num_shards):
            raise ValueError(f"shard_index must be in 0 .. num_shards-1 and num_shards at least 1, got shard_index "
                             f"{self.shard_index!r} of num_shards {self.num_shards!r}.")
        if self.num_shards > 1 and self.overwrite:
            raise ValueError("--overwrite with --num_shards > 1 would let one shard delete the others' work: replace "
                             "the old run once with one process (or use another --output folder), then shard.")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, got {self.confidence!r}.")
        if self.signals not in SIGNAL_LEVELS:
            raise ValueError(f"signals must be one of {list(SIGNAL_LEVELS)}, got {self.signals!r}.")
        check_thresholds(self.max_wer, self.max_silence_ratio)
