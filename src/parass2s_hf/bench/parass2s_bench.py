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
from dataclasses import dataclass, field, fields
from importlib import resources

import datasets
from datasets.builder import Key

from ..audio import load_audio
from ..constants import DIMENSIONS, QUERY_STYLES
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


VERSION = datasets.Version("0.2.0")
"""The builder's version: in every config, so `builder.info.version` and the cache path state it."""

SHARDS_PER_SPLIT = 16
"""Each split is cut into at most this many contiguous shards, so `DataLoader` workers (and `num_proc`) share a
streamed split; 16 divides evenly among 1, 2, 4, 8 or 16 workers. Non-streamed rows keep their order."""

BUILDER_CONFIGS = [
    ParaS2SBenchConfig(name="sample", kind="sample", version=VERSION,
                       description="6 texts x 2 styles per dimension, espeak-ng, shipped in the package."),
    *[ParaS2SBenchConfig(name=d, kind="synthetic", dimensions=(d,), version=VERSION,
                         description=f"The {d} dimension of the synthetic split.") for d in DIMENSIONS],
    ParaS2SBenchConfig(name="synthetic", kind="synthetic", version=VERSION, description="All four synthetic dimensions."),
    ParaS2SBenchConfig(name="iemocap", kind="iemocap", dimensions=("emotion",), version=VERSION,
                       description="IEMOCAP emotional utterances (your licensed copy, via data_dir)."),
    ParaS2SBenchConfig(name="meld", kind="meld", dimensions=("emotion",), version=VERSION,
                       description="MELD emotional utterances (your copy, via data_dir)."),
    ParaS2SBenchConfig(name="all", kind="all", version=VERSION,
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


def contiguous_chunks(items: list, n: int = SHARDS_PER_SPLIT) -> list[list]:
    """`items` cut into at most `n` non-empty runs, in order, of sizes that differ by at most one."""
    n = max(1, min(n, len(items)))
    size, extra = divmod(len(items), n)
    bounds = [i * size + min(i, extra) for i in range(n + 1)]
    return [items[bounds[i]:bounds[i + 1]] for i in range(n) if bounds[i] < bounds[i + 1]]


class ParaS2SBench(datasets.GeneratorBasedBuilder):
    """ParaS2SBench: paralinguistic-aware speech-to-speech benchmark queries."""

    VERSION = VERSION
    BUILDER_CONFIG_CLASS = ParaS2SBenchConfig
    BUILDER_CONFIGS = BUILDER_CONFIGS
    DEFAULT_CONFIG_NAME = "synthetic"

    def __init__(self, *args, data_dir: str | None = None, **kwargs):
        # A field given as None means the config's default; passed on, it would still enter the config id, so
        # `load_parass2sbench(..., iemocap_dir=None)` would prepare into another folder than `load_dataset`.
        for name in _CONFIG_FIELDS:
            if kwargs.get(name, ...) is None:
                del kwargs[name]
        # The cache must key on what the inputs hold, not only on where they are (datasets does the same for the
        # data files of its packaged builders, with their modification times).
        kwargs.pop("inputs_signature", None)
        signature = inputs_signature(data_dir, kwargs.get("iemocap_dir"), kwargs.get("meld_dir"),
                                     kwargs.get("text_layer"))
        if signature:
            kwargs["inputs_signature"] = signature
        super().__init__(*args, data_dir=data_dir, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        # An SPDX id, as the Hub expects; the audio's terms (espeak-ng output, the user's corpora) are in the card.
        return datasets.DatasetInfo(description=_DESCRIPTION, features=FEATURES, homepage=_HOMEPAGE,
                                    citation=_CITATION, license="cc-by-4.0")

    def _corpus_dirs(self) -> dict[str, str | None]:
        """The real-corpus folders this config reads: `{"iemocap": ..., "meld": ...}` (a subset)."""
        cfg = self.config
        if cfg.kind == "iemocap":
            return {"iemocap": cfg.data_dir or cfg.iemocap_dir}
        if cfg.kind == "meld":
            return {"meld": cfg.data_dir or cfg.meld_dir}
        if cfg.kind == "all":
            return {"iemocap": cfg.iemocap_dir, "meld": cfg.meld_dir}
        return {}

    def _check_corpora(self) -> None:
        """Fail before any generation when a real corpus is missing or not in its release layout, saying how to get
        it. `_split_generators` cannot be the place: without the folders it still names the splits, which is what
        `datasets.get_dataset_config_info` asks of it."""
        needs = " (the 'all' config needs {}_dir=...)" if self.config.kind == "all" else ""
        for corpus, folder in self._corpus_dirs().items():
            if corpus == "iemocap":
                check_corpus_root(folder, "IEMOCAP" + needs.format("iemocap"), IEMOCAP_INSTRUCTIONS)
                iemocap_sessions(folder)
            else:
                check_corpus_root(folder, "MELD" + needs.format("meld"), MELD_INSTRUCTIONS)
                meld_csvs(folder, self.config.meld_splits)

    def _download_and_prepare(self, dl_manager, verification_mode, **prepare_split_kwargs):
        self._check_corpora()
        super()._download_and_prepare(dl_manager, verification_mode, **prepare_split_kwargs)

    def as_streaming_dataset(self, split=None, base_path=None):
        self._check_corpora()
        return super().as_streaming_dataset(split=split, base_path=base_path)

    def _split_generators(self, dl_manager):
        cfg = self.config
        if cfg.kind == "sample":
            sample_dir = str(resources.files(__package__).joinpath("data", SAMPLE_DIR))
            return self._from_data_dir(sample_dir)
        if cfg.kind in ("iemocap", "meld"):
            return [_split_generator("test", self._corpus_shards())]
        if cfg.data_dir:
            gens = self._from_data_dir(cfg.data_dir)
        else:
            records = read_text_layer(cfg.text_layer)
            gens = [_split_generator(split, [("render", chunk) for chunk in contiguous_chunks(chosen)])
                    for split in ("test", "train") if (chosen := select(records, cfg.dimensions, split))]
        if cfg.kind == "all":
            # The real subsets are evaluated with the synthetic test split.
            gens = [_split_generator(g.name, g.gen_kwargs["shards"] + (self._corpus_shards() if g.name == "test" else []))
                    for g in gens]
        return gens

    def _corpus_shards(self) -> list[tuple[str, list[dict]]]:
        """The kept rows of this config's real corpora, in shards. Without a folder there are none: only the split
        names are asked then (preparing or streaming checks the folders first, `_check_corpora`)."""
        shards = []
        for corpus, folder in self._corpus_dirs().items():
            if folder is None:
                continue
            counts = Counter()
            if corpus == "iemocap":
                rows = list(iter_iemocap(folder, counts))
                logger.info("IEMOCAP selection: %s", dict(counts))
            else:
                rows = list(iter_meld(folder, self.config.meld_splits, counts))
                if counts["dropped_clip_missing"]:
                    logger.warning("MELD: %d selected utterances have no clip in the release and are left out.",
                                   counts["dropped_clip_missing"])
                logger.info("MELD selection: %s", dict(counts))
            shards += [("rows", chunk) for chunk in contiguous_chunks(rows)]
        return shards

    def _from_data_dir(self, data_dir: str):
        rows = read_metadata(data_dir, self.config.dimensions)
        return [_split_generator(split, [("rows", chunk) for chunk in contiguous_chunks(chosen)])
                for split in ("test", "train") if (chosen := [r for r in rows if r["split"] == split])]

    def _generate_examples(self, shards: list[tuple[str, list]]):
        """Rows of a list of shards: `("render", text layer records)` or `("rows", rows with an audio_path)`."""
        renderer = None
        for shard_id, (kind, items) in enumerate(shards):
            if kind == "render":
                renderer = renderer or self._renderer()
                rows = self._rendered(renderer, items)
            else:
                rows = self._read_rows(items)
            for index, row in enumerate(rows):
                yield Key(shard_id, index), row

    def _renderer(self):
        from ..render import get_renderer

        return get_renderer(self.config.renderer, **self.config.renderer_kwargs)

    def _rendered(self, renderer, records):
        plan = benchmark_voice_plan(renderer)
        for record in records:
            for row in record_rows(record):
                key = row_voice_key(renderer, plan, row)
                clip = renderer.render(row["text"], row["style"], voice_key=key)
                row.update(voice=renderer.voice(row["style"], key), source=renderer.name,
                           audio={"bytes": clip.to_bytes(), "path": f"{row['id']}.flac"})
                yield row

    def _read_rows(self, rows):
        for row in rows:
            # A copy: the shard's rows are gen_kwargs, which every pass over a streamed split reads again.
            row = dict(row)
            path = row.pop("audio_path")
            row.pop("file_name", None)
            # Through the audio door: a corrupt or empty file fails here, naming the file.
            clip = load_audio(path, max_seconds=self.config.max_seconds)
            row["audio"] = {"bytes": clip.to_bytes(), "path": os.path.basename(path)}
            yield row


def benchmark_voice_plan(renderer):
    """The benchmark's voice split for `renderer`: every voice of the query styles' pools goes to test or train once
    (`render.voice_split`), the same for every config, so no voice is heard in both splits. A renderer that lists no
    voice pools gets no split (a warning)."""
    from ..render.voice_split import VoicePlan

    return VoicePlan(renderer, set(QUERY_STYLES), enabled=True)


def row_voice_key(renderer, plan, row: dict) -> str:
    """The voice key a benchmark row is rendered with: its `pair_id`, moved (deterministically) until the voice lies in
    the row's split. Both styles of an emotion or sarcasm pair share a pool, so they find the same speaker."""
    from ..render.voice_split import pick_voice_key

    return pick_voice_key(renderer, row["style"], row["pair_id"], plan.allowed_for(row["style"], row["split"]))[0]


def _split_generator(name: str, shards: list[tuple[str, list]]) -> datasets.SplitGenerator:
    """A split over `shards`, its size stated up front so that the prepare progress bar has a total and an ETA."""
    gen = datasets.SplitGenerator(name, gen_kwargs={"shards": shards})
    gen.split_info.num_examples = sum(sum(len(r["styles"]) for r in items) if kind == "render" else len(items)
                                      for kind, items in shards)
    return gen


_CONFIG_FIELDS = tuple(f.name for f in fields(ParaS2SBenchConfig))


__all__ = ["BUILDER_CONFIGS", "CONFIG_NAMES", "FEATURES", "FIELD_DESCRIPTIONS", "ParaS2SBench", "ParaS2SBenchConfig"]
