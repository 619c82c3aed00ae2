"""ParaS2SBench as a `datasets` builder (the file name is the builder name).

Configs:
- `sample`: 6 texts x 2 styles per dimension, rendered with espeak-ng and shipped inside the package; offline.
- `emotion`, `sarcasm`, `age`, `gender`, `synthetic` (all four): the text layer rendered at prepare time with a
  renderer (espeak-ng by default), or read from `data_dir` when you have rendered audio of your own. Splits:
  `test` (the benchmark) and `train` (the topic-disjoint train pool).
- `iemocap`, `meld`: your licensed copies, via `data_dir`; emotion, `test` split only.
- `all`: the synthetic configs plus IEMOCAP and MELD (`iemocap_dir=...`, `meld_dir=...`).

```python
>>> import parass2s_hf, datasets
>>> datasets.load_dataset("parass2sbench", "sample", split="test")
>>> datasets.load_dataset("parass2sbench", "emotion", data_dir="my_render/")      # your own audio
>>> datasets.load_dataset("parass2sbench", "iemocap", data_dir="/data/IEMOCAP_full_release")
```
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import datasets

from ..audio import load_audio
from ..constants import DIMENSIONS
from .data_dir import read_metadata
from .features import FEATURES, FIELD_DESCRIPTIONS
from .real_corpora import (
    IEMOCAP_INSTRUCTIONS,
    MELD_INSTRUCTIONS,
    check_corpus_root,
    iemocap_sessions,
    iter_iemocap,
    iter_meld,
    meld_csvs,
)
from .text_layer import read_text_layer, record_rows, select

logger = logging.getLogger(__name__)

_CITATION = """\
@inproceedings{yang2026paras2s,
  title     = {ParaS2S: Benchmarking and Aligning Spoken Language Models for Paralinguistic-aware
               Speech-to-Speech Interaction},
  author    = {Yang, Shu-wen and Tu, Ming and Liu, Andy T. and Qu, Xinghua and Lee, Hung-yi and Lu, Lu and
               Wang, Yuxuan and Wu, Yonghui},
  booktitle = {International Conference on Learning Representations},
  year      = {2026},
  note      = {arXiv:2511.08723}
}
"""
_DESCRIPTION = (
    "ParaS2SBench: spoken queries whose words are neutral but whose speaking style (emotion, sarcasm, speaker age "
    "and gender) changes what a fitting spoken reply is. Open re-implementation of the benchmark of ParaS2S "
    "(arXiv 2511.08723) by parass2s_hf; synthetic audio is rendered locally, IEMOCAP and MELD are read from the "
    "user's licensed copies."
)
_HOMEPAGE = "https://arxiv.org/abs/2511.08723"

SAMPLE_DIR = "sample"


@dataclass
class ParaS2SBenchConfig(datasets.BuilderConfig):
    """A ParaS2SBench configuration.

    Args:
        kind (`str`, *optional*, defaults to `"synthetic"`): `"sample"`, `"synthetic"`, `"iemocap"`, `"meld"` or
            `"all"`.
        dimensions (`tuple[str, ...]`, *optional*): the dimensions of the synthetic part.
        renderer (`str`, *optional*, defaults to `"espeak-ng"`): renderer of the text layer at prepare time
            (ignored when `data_dir` holds your own audio).
        renderer_kwargs (`dict`, *optional*): arguments of the renderer.
        text_layer (`str`, *optional*): a text layer file to render instead of the shipped one.
        iemocap_dir (`str`, *optional*): IEMOCAP folder for the `all` config (`iemocap` takes `data_dir`).
        meld_dir (`str`, *optional*): MELD folder for the `all` config (`meld` takes `data_dir`).
        meld_splits (`tuple[str, ...]`, *optional*, defaults to `("test",)`): MELD splits to draw from.
        max_seconds (`float`, *optional*, defaults to `60.0`): longest accepted clip.
        inputs_signature (`str`, *optional*): set by the builder, not by you: a hash of what `data_dir`,
            `iemocap_dir`, `meld_dir` and `text_layer` hold (`io.folder_signature`, `io.file_hash`). It is part of
            the config id, so editing `metadata.jsonl` or replacing a clip prepares the data again instead of
            returning the old cached rows.
    """

    kind: str = "synthetic"
    dimensions: tuple = DIMENSIONS
    renderer: str = "espeak-ng"
    renderer_kwargs: dict = field(default_factory=dict)
    text_layer: str | None = None
    iemocap_dir: str | None = None
    meld_dir: str | None = None
    meld_splits: tuple = ("test",)
    max_seconds: float = 60.0
    inputs_signature: str | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.kind not in ("sample", "synthetic", "iemocap", "meld", "all"):
            raise ValueError(f"kind={self.kind!r}; expected 'sample', 'synthetic', 'iemocap', 'meld' or 'all'.")
        self.dimensions = tuple(self.dimensions)
        bad = [d for d in self.dimensions if d not in DIMENSIONS]
        if bad or not self.dimensions:
            raise ValueError(f"dimensions={self.dimensions!r}; expected a non-empty subset of {list(DIMENSIONS)}.")
        self.meld_splits = tuple(self.meld_splits)


BUILDER_CONFIGS = [
    ParaS2SBenchConfig(name="sample", kind="sample",
                       description="6 texts x 2 styles per dimension, espeak-ng, shipped in the package."),
    *[ParaS2SBenchConfig(name=d, kind="synthetic", dimensions=(d,),
                         description=f"The {d} dimension of the synthetic split.") for d in DIMENSIONS],
    ParaS2SBenchConfig(name="synthetic", kind="synthetic", description="All four synthetic dimensions."),
    ParaS2SBenchConfig(name="iemocap", kind="iemocap", dimensions=("emotion",),
                       description="IEMOCAP emotional utterances (your licensed copy, via data_dir)."),
    ParaS2SBenchConfig(name="meld", kind="meld", dimensions=("emotion",),
                       description="MELD emotional utterances (your copy, via data_dir)."),
    ParaS2SBenchConfig(name="all", kind="all",
                       description="Synthetic (four dimensions) plus IEMOCAP and MELD (iemocap_dir=, meld_dir=)."),
]
CONFIG_NAMES = [c.name for c in BUILDER_CONFIGS]


def inputs_signature(data_dir=None, iemocap_dir=None, meld_dir=None, text_layer=None) -> str | None:
    """A hash of the user's inputs of a config (folders by `io.folder_signature`, a text layer file by content), or
    `None` when it has none (the shipped data is covered by the builder's own hash)."""
    from ..io import file_hash, folder_signature

    parts = []
    for name, folder in (("data_dir", data_dir), ("iemocap_dir", iemocap_dir), ("meld_dir", meld_dir)):
        if folder and os.path.isdir(folder):
            parts.append(f"{name}={folder_signature(folder)}")
    if text_layer and os.path.isfile(text_layer):
        parts.append(f"text_layer={file_hash(text_layer)[:16]}")
    return ";".join(parts) or None


class ParaS2SBench(datasets.GeneratorBasedBuilder):
    """ParaS2SBench: paralinguistic-aware speech-to-speech benchmark queries."""

    VERSION = datasets.Version("0.1.0")
    BUILDER_CONFIG_CLASS = ParaS2SBenchConfig
    BUILDER_CONFIGS = BUILDER_CONFIGS
    DEFAULT_CONFIG_NAME = "synthetic"

    def __init__(self, *args, data_dir: str | None = None, **kwargs):
        # The cache must key on what the inputs hold, not only on where they are (datasets does the same for the
        # data files of its packaged builders, with their modification times).
        kwargs.pop("inputs_signature", None)
        signature = inputs_signature(data_dir, kwargs.get("iemocap_dir"), kwargs.get("meld_dir"),
                                     kwargs.get("text_layer"))
        if signature:
            kwargs["inputs_signature"] = signature
        super().__init__(*args, data_dir=data_dir, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=_DESCRIPTION, features=FEATURES, homepage=_HOMEPAGE,
                                    citation=_CITATION, license="cc-by-4.0 (texts); see the card for the audio")

    def _split_generators(self, dl_manager):
        cfg = self.config
        if cfg.kind == "sample":
            sample_dir = str(resources.files(__package__).joinpath("data", SAMPLE_DIR))
            return self._from_data_dir(sample_dir)
        if cfg.kind in ("iemocap", "meld"):
            folder = cfg.data_dir or (cfg.iemocap_dir if cfg.kind == "iemocap" else cfg.meld_dir)
            # Check the release layout now, so a wrong folder fails before generation with how to fix it.
            iemocap_sessions(folder) if cfg.kind == "iemocap" else meld_csvs(folder, cfg.meld_splits)
            return [datasets.SplitGenerator(datasets.Split.TEST, gen_kwargs={"parts": [(cfg.kind, folder)]})]
        if cfg.data_dir:
            gens = self._from_data_dir(cfg.data_dir)
        else:
            records = read_text_layer(cfg.text_layer)
            gens = [datasets.SplitGenerator(split, gen_kwargs={"parts": [("render", select(records, cfg.dimensions, split))]})
                    for split in ("test", "train") if select(records, cfg.dimensions, split)]
        if cfg.kind == "all":
            # The real subsets are evaluated with the synthetic test split; both folders are required.
            for gen in gens:
                if gen.name == "test":
                    gen.gen_kwargs["parts"] += [("iemocap", cfg.iemocap_dir), ("meld", cfg.meld_dir)]
            check_corpus_root(cfg.iemocap_dir, "IEMOCAP (the 'all' config needs iemocap_dir=...)", IEMOCAP_INSTRUCTIONS)
            check_corpus_root(cfg.meld_dir, "MELD (the 'all' config needs meld_dir=...)", MELD_INSTRUCTIONS)
            iemocap_sessions(cfg.iemocap_dir)
            meld_csvs(cfg.meld_dir, cfg.meld_splits)
        return gens

    def _from_data_dir(self, data_dir: str):
        rows = read_metadata(data_dir, self.config.dimensions)
        return [datasets.SplitGenerator(split, gen_kwargs={"parts": [("rows", [r for r in rows if r["split"] == split])]})
                for split in ("test", "train") if any(r["split"] == split for r in rows)]

    def _generate_examples(self, parts: list[tuple[str, Any]]):
        for kind, payload in parts:
            if kind == "render":
                yield from self._rendered(payload)
            elif kind == "rows":
                yield from self._read_rows(payload)
            elif kind == "iemocap":
                counts = Counter()
                yield from self._read_rows(iter_iemocap(payload, counts))
                logger.info("IEMOCAP selection: %s", dict(counts))
            elif kind == "meld":
                counts = Counter()
                yield from self._read_rows(iter_meld(payload, self.config.meld_splits, counts))
                if counts["dropped_clip_missing"]:
                    logger.warning("MELD: %d selected utterances have no clip in the release and are left out.",
                                   counts["dropped_clip_missing"])
                logger.info("MELD selection: %s", dict(counts))

    def _rendered(self, records):
        from ..render import get_renderer

        renderer = get_renderer(self.config.renderer, **self.config.renderer_kwargs)
        for record in records:
            for row in record_rows(record):
                clip = renderer.render(row["text"], row["style"], voice_key=row["pair_id"])
                row.update(voice=renderer.voice(row["style"], row["pair_id"]), source=renderer.name,
                           audio={"bytes": clip.to_bytes(), "path": f"{row['id']}.flac"})
                yield row["id"], row

    def _read_rows(self, rows):
        for row in rows:
            path = row.pop("audio_path")
            row.pop("file_name", None)
            # Through the audio door: a corrupt or empty file fails here, naming the file.
            clip = load_audio(path, max_seconds=self.config.max_seconds)
            row["audio"] = {"bytes": clip.to_bytes(), "path": os.path.basename(path)}
            yield row["id"], row


__all__ = ["BUILDER_CONFIGS", "CONFIG_NAMES", "FEATURES", "FIELD_DESCRIPTIONS", "ParaS2SBench", "ParaS2SBenchConfig"]
