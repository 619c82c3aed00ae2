"""PolyTone data for the style analyzers: the same text spoken in every style of a dimension by many voices.

A style analyzer must hear the label in the voice, never read it from the words. PolyTone data makes the words
useless as a cue: every text occurs once in each style of the dimension, so a classifier that keys on the words
scores at chance on it.

Two sources:
- a PolyTone export of the construction pipeline (`parass2s build ... --mode polytone`), an audiofolder with
  `<split>/metadata.jsonl` (columns `id`, `record_id`, `split`, `dimension`, `topic`, `style`, `text`, `voice`,
  `source`), or any dataset (a folder `datasets` reads, a `save_to_disk` folder, a Hub name) with an audio column
  and a label column: `load_polytone`;
- texts rendered on the fly in every style with an offline renderer (espeak-ng), for tests and quick experiments:
  `render_polytone`.

```python
>>> from parass2s_hf.analyzers import load_polytone, render_polytone, text_layer_texts
>>> train = load_polytone("data/pt", split="train", dimension="gender")           # an export
>>> train = render_polytone(text_layer_texts("train", "gender", 40), "gender")   # 40 texts x 2 styles x 2 voices
>>> train[0]["style"], train[0]["voice"]
('male', 'en-us+m1')
```
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

from ..constants import DIMENSIONS, SAMPLING_RATE, STYLES
from ..io import files_fingerprint, iter_jsonl, resolve_inside

logger = logging.getLogger(__name__)

POLYTONE_COLUMNS = ("id", "record_id", "split", "dimension", "topic", "style", "text", "voice", "source")
"""The columns of a PolyTone row besides `audio` (the construction pipeline's `polytone` export has the same)."""
TEST_VOICE_FRACTION = 1 / 3
"""Share of each style's voice pool kept for the test split when `render_polytone(split_voices=True)`."""


def check_dimension(dimension: str) -> tuple[str, ...]:
    """The styles of `dimension`; `ValueError` naming the dimensions otherwise."""
    if dimension not in STYLES:
        raise ValueError(f"Unknown dimension {dimension!r}; expected one of {list(DIMENSIONS)}.")
    return STYLES[dimension]


def check_labels(dataset, dimension: str, label_column: str = "style") -> None:
    """Every label of `dataset[label_column]` must be one of the dimension's styles.

    Raises:
        `ValueError`: the column is missing, or holds labels outside `STYLES[dimension]` (naming them).
    """
    styles = check_dimension(dimension)
    if label_column not in dataset.column_names:
        raise ValueError(f"The dataset has no label column {label_column!r}; its columns are {dataset.column_names}. "
                         f"Set label_column to the column holding the {dimension} styles {list(styles)}.")
    unknown = sorted({str(v) for v in dataset.unique(label_column)} - set(styles))
    if unknown:
        raise ValueError(f"Column {label_column!r} holds labels {unknown} that are not {dimension} styles "
                         f"{list(styles)}; filter the dataset by dimension or map the labels first.")


def load_polytone(path: str, *, split: str = "train", dimension: str | None = None, label_column: str = "style",
                  audio_column: str = "audio", **load_kwargs):
    """Load PolyTone rows (or any audio classification data) for one dimension.

    A local folder is checked before `datasets` reads it: every row of a metadata file (`metadata.jsonl`,
    `metadata.csv`) must name, in `file_name`, an audio file that exists inside the metadata file's folder (no
    absolute path, no `..`, no symlink leading out). Its prepared rows are cached under a hash of what its files other
    than the clips hold (`io.files_fingerprint`), so an edited metadata file is seen on the next load even when the
    edit kept the file's modification time; the clips are kept as paths and read when a row is decoded.

    Args:
        path (`str`): an audiofolder (a PolyTone export: `<split>/metadata.jsonl` + audio files), a folder written by
            `Dataset.save_to_disk` / `DatasetDict.save_to_disk`, or a name `datasets.load_dataset` resolves.
        split (`str`, *optional*, defaults to `"train"`): the split to return.
        dimension (`str`, *optional*): keep the rows of this dimension (when the data has a `dimension` column) and
            check that every label is one of its styles.
        label_column (`str`, *optional*, defaults to `"style"`): the column holding the style labels.
        audio_column (`str`, *optional*, defaults to `"audio"`): the column holding the audio; cast to 16 kHz.
        load_kwargs: passed to `datasets.load_dataset`.

    Returns:
        `datasets.Dataset`

    Raises:
        `ValueError`: a missing folder; a metadata line that is not a JSON object, names no audio file, or names one
            outside its folder or missing (naming the file and line); a missing split, audio or label column, or
            labels outside the dimension's styles.
    """
    import datasets
    import pyarrow

    path = os.fspath(path)
    if not os.path.exists(path) and _looks_local(path):
        raise ValueError(f"{path}: no such folder. Pass a PolyTone export folder, a save_to_disk folder or a Hub "
                         f"dataset name.")
    if os.path.isfile(os.path.join(path, "dataset_dict.json")) or os.path.isfile(os.path.join(path, "state.json")):
        try:
            loaded = datasets.load_from_disk(path)
        except (OSError, ValueError) as e:  # a damaged or partly copied state.json / dataset_info.json
            raise ValueError(f"{path}: a save_to_disk folder that datasets cannot read ({e}). Save the dataset "
                             f"again, or copy the whole folder.") from None
    elif os.path.isdir(path):
        metadata = _metadata_files(path)
        for file in metadata:
            _check_metadata(file)
        # datasets keys its cache of local files on their modification times only: a metadata file replaced with
        # its time kept (`cp -p`, `rsync -t`, an unpacked archive) would give back the old rows. The config's
        # description is the one field every builder has that goes into the cache key, so it carries the content
        # hash. The clips are left out: datasets stores their paths and reads them when a row is decoded.
        load_kwargs.setdefault("description", f"content {files_fingerprint(_data_files(path), root=path)}")
        try:
            if metadata:
                loaded = datasets.load_dataset("audiofolder", data_dir=path, **load_kwargs)
            else:
                loaded = datasets.load_dataset(path, **load_kwargs)
        except (datasets.exceptions.DatasetGenerationError, pyarrow.ArrowException) as e:
            # metadata rows are parsed by pyarrow (a column of mixed types is its error), rows by the builder
            cause = e.__cause__ or e.__context__ or e
            what = "audiofolder" if metadata else "folder"
            raise ValueError(f"{path}: datasets cannot build the rows of this {what} ({cause}). Every value of a "
                             f"column must have one type (all strings, or all numbers).") from e
        except FileNotFoundError as e:  # an empty folder, or one without a file datasets reads
            raise ValueError(f"{path}: no metadata file and no data file datasets can read ({e}); a PolyTone export "
                             f"has <split>/metadata.jsonl next to its clips.") from e
    else:
        try:
            loaded = datasets.load_dataset(path, **load_kwargs)
        except (FileNotFoundError, ConnectionError) as e:  # DatasetNotFoundError is a FileNotFoundError
            raise ValueError(f"{path}: neither a local folder nor a dataset datasets can load ({e}).") from e
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise ValueError(f"{path}: no split {split!r}; it has {sorted(loaded)}.")
        loaded = loaded[split]
    elif "split" in loaded.column_names:
        loaded = loaded.filter(lambda s: s == split, input_columns="split")
    if audio_column not in loaded.column_names:
        raise ValueError(f"{path}: no audio column {audio_column!r}; its columns are {loaded.column_names}. "
                         f"Set audio_column to the column holding the clips.")
    loaded = loaded.cast_column(audio_column, datasets.Audio(sampling_rate=SAMPLING_RATE))
    if dimension is not None:
        check_dimension(dimension)
        if "dimension" in loaded.column_names:
            loaded = loaded.filter(lambda d: d == dimension, input_columns="dimension")
        if len(loaded) == 0:
            raise ValueError(f"{path}: split {split!r} has no {dimension} rows.")
        check_labels(loaded, dimension, label_column)
    return loaded


METADATA_FILES = ("metadata.jsonl", "metadata.csv", "metadata.parquet")
"""The metadata files of an audiofolder (`datasets`' names)."""


def _looks_local(path: str) -> bool:
    """A path that can only mean a local folder (a Hub name is `name` or `user/name`)."""
    return (os.path.isabs(path) or path.startswith(("./", "../", "~")) or path in (".", "..")
            or path.count("/") > 1)


def _walk(folder: str):
    """The files under `folder` that `datasets` reads: hidden (`.x`) and private (`__x`) files and folders are
    skipped, as its data file patterns skip them."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for name in sorted(files):
            if not name.startswith((".", "__")):
                yield os.path.join(root, name)


def _metadata_files(folder: str) -> list[str]:
    return [p for p in _walk(folder) if os.path.basename(p) in METADATA_FILES]


def _data_files(folder: str) -> list[str]:
    """The files whose content the prepared rows hold: all but the audio clips (kept as paths, read on decode)."""
    from datasets.packaged_modules.audiofolder.audiofolder import AudioFolder

    audio = tuple(e.lower() for e in AudioFolder.EXTENSIONS)
    return [p for p in _walk(folder) if not p.lower().endswith(audio)]


def _metadata_rows(path: str):
    """(line or row number, record) of a metadata file; `ValueError` naming the file and line when it is damaged.

    JSONL through `io.iter_jsonl`, not `io.JsonlLog`: that reader of the program's own logs cuts a last line without a
    newline, which in a hand-written metadata file is a whole row, and it would rewrite the user's file.
    """
    import csv

    if path.endswith(".parquet"):
        import pyarrow
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (OSError, pyarrow.ArrowException) as e:
            raise ValueError(f"{path}: not a readable Parquet file ({e}).") from None
        yield from enumerate(table.to_pylist(), 1)
        return
    if path.endswith(".csv"):
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f)
                for record in reader:
                    yield reader.line_num, record
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not UTF-8 text ({e}).") from None
        return
    yield from iter_jsonl(path, "metadata file")


def _check_metadata(path: str) -> None:
    """Every row of an audiofolder metadata file names audio files that exist inside the file's folder.

    Raises:
        `ValueError`: naming the file, the line and the value.
    """
    folder = os.path.dirname(path)
    for number, record in _metadata_rows(path):
        where = f"{path}, line {number}"
        names = [(k, v) for k, v in record.items() if k == "file_name" or k.endswith("_file_name")]
        names += [(k, item) for k, v in record.items() if k == "file_names" or k.endswith("_file_names")
                  for item in (v if isinstance(v, list) else [v])]
        if not names:
            raise ValueError(f"{where}: no file_name; every row names its audio file, relative to {folder}.")
        for key, value in names:
            if not isinstance(value, str):
                raise ValueError(f"{where}: {key} {value!r} is a {type(value).__name__}, not a path; "  # noqa: TRY004
                                 f"expected a path relative to {folder}.")
            full = resolve_inside(folder, value, what=f"{where}: {key}")
            if not os.path.isfile(full):
                raise ValueError(f"{where}: {key} {value!r}: no such file {full}; put the clip there or drop the "
                                 f"row.")


def text_layer_texts(split: str, dimension: str | None = None, n: int | None = None) -> list[dict]:
    """Records of the shipped text layer (`id`, `text`, `split`, `topic`, `dimension`), for `render_polytone`.

    Args:
        split (`str`): `"train"` or `"test"`; texts of the two splits never overlap.
        dimension (`str`, *optional*): put this dimension's texts first (PolyTone texts are neutral: when `n` asks for
            more than the dimension has, the other dimensions' texts of the same split follow).
        n (`int`, *optional*): how many records (all when `None`).
    """
    from ..bench.text_layer import read_text_layer

    records = [r for r in read_text_layer() if r["split"] == split]
    if not records:
        raise ValueError(f"The text layer has no {split!r} texts; expected 'train' or 'test'.")
    if dimension is not None:
        check_dimension(dimension)
        records.sort(key=lambda r: r["dimension"] != dimension)  # stable: the dimension's texts first
    if n is not None:
        if n < 1:
            raise ValueError(f"n={n}; expected a positive number of texts.")
        records = records[:n]
    return [{k: r[k] for k in ("id", "text", "split", "topic", "dimension")} for r in records]


def voice_split(dimension: str, renderer="espeak-ng", test_fraction: float = TEST_VOICE_FRACTION
                ) -> dict[str, dict[str, list[str]]]:
    """Divide each style's voice pool between train and test, so that held-out clips come from unheard voices.

    A voice is assigned to one split for the whole dimension (a voice that is in two styles' pools, such as espeak-ng's
    `f5`, which speaks both `adult` and `child`, is never heard in training and in testing). Each style keeps at least
    one voice in each split. (The construction pipeline's render stage divides pools its own way, about half each:
    `build.render_stage.assign_voice_splits`; this split keeps more voices for training the analyzer.)

    Args:
        dimension (`str`): the dimension whose styles' pools are divided.
        renderer (`str` or renderer, *optional*, defaults to `"espeak-ng"`): a renderer with a `voices(style)` method.
        test_fraction (`float`, *optional*, defaults to `1/3`): share of each pool for the test split (at least one).

    Returns:
        `dict`: `{"train": {style: [voice, ...]}, "test": {style: [voice, ...]}}`.

    Raises:
        `ValueError`: the renderer cannot list voices, or a style's pool is too small to divide.
    """
    styles = check_dimension(dimension)
    renderer = _renderer(renderer)
    if not hasattr(renderer, "voices"):
        raise ValueError(f"Renderer {getattr(renderer, 'name', renderer)!r} cannot list its voices (no voices(style) "
                         f"method); use split_voices=False.")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction={test_fraction}; expected a share between 0 and 1.")
    pools = {s: list(dict.fromkeys(renderer.voices(s))) for s in styles}
    shared = {v for s in styles for v in pools[s] if sum(v in pools[t] for t in styles) > 1}
    step = max(1, round(1 / test_fraction))
    test = set()
    for style in sorted(styles, key=lambda s: len(pools[s])):  # small pools choose first
        pool = pools[style]
        k = max(1, round(len(pool) * test_fraction))
        # candidates spread over the pool (pools list related variants together, e.g. male then female), voices of
        # one style only first: a voice shared between styles goes to train, where both styles keep it
        spread = pool[::-1][::step] + [v for v in pool[::-1] if v not in pool[::-1][::step]]
        candidates = [v for v in spread if v not in shared] + [v for v in spread if v in shared]
        mine = [v for v in pool if v in test]
        for voice in candidates:
            if len(mine) >= k:
                break
            if voice not in test:
                test.add(voice)
                mine.append(voice)
    out = {"train": {s: [v for v in pools[s] if v not in test] for s in styles},
           "test": {s: [v for v in pools[s] if v in test] for s in styles}}
    empty = [f"{split}/{s}" for split, per in out.items() for s, voices in per.items() if not voices]
    if empty:
        raise ValueError(f"Cannot divide the {dimension} voice pools {pools} between train and test: {empty} would be "
                         f"empty. Use split_voices=False.")
    return out


def _renderer(renderer):
    if isinstance(renderer, str):
        from ..render import get_renderer

        return get_renderer(renderer)
    return renderer


def _key_for_voice(renderer, style: str, voice: str, cache: dict) -> str:
    """A voice key for which `renderer.voice(style, key) == voice` (renderers pick voices by a hash of the key)."""
    if (style, voice) not in cache:
        for k in range(100_000):
            key = f"polytone-{k}"
            found = renderer.voice(style, key)
            cache.setdefault((style, found), key)
            if found == voice:
                break
        else:
            raise ValueError(f"No voice key gives voice {voice!r} for style {style!r}.")
    return cache[(style, voice)]


def render_polytone(texts: Sequence[str | Mapping], dimension: str, voices_per_style: int = 2,
                    renderer="espeak-ng", split_voices: bool = True, *, split: str = "train",
                    renderer_kwargs: Mapping | None = None):
    """Speak every text in every style of `dimension` with several voices: a PolyTone dataset made on the fly.

    Args:
        texts (`Sequence[str | Mapping]`): texts, or records with `text` and optionally `id`, `split`, `topic` (such
            as `text_layer_texts(...)`).
        dimension (`str`): the dimension whose styles are spoken (`STYLES[dimension]`).
        voices_per_style (`int`, *optional*, defaults to `2`): voices speaking each (text, style). With
            `split_voices`, capped by the smallest pool of the split's styles, so every style gets as many clips
            as the others; successive texts rotate through each pool, so every voice of it is used.
        renderer (`str` or renderer, *optional*, defaults to `"espeak-ng"`): a renderer name or object with
            `render(text, style, voice_key)` and `voice(style, key)`.
        split_voices (`bool`, *optional*, defaults to `True`): render train texts with train voices and test texts
            with test voices only (`voice_split`), so test accuracy is measured on voices never heard in training.
            `False` draws the voices from the whole pool by a hash of the text and the voice index.
        split (`str`, *optional*, defaults to `"train"`): the split of texts given as strings or without `split`.
        renderer_kwargs (`Mapping`, *optional*): passed to `get_renderer` when `renderer` is a name.

    Returns:
        `datasets.Dataset`: one row per clip, columns `audio` (16 kHz) and `POLYTONE_COLUMNS`; rows are ordered by
        text, then style, then voice.

    Raises:
        `ValueError`: an unknown dimension, no texts, an empty text or `voices_per_style < 1`.
    """
    import datasets

    styles = check_dimension(dimension)
    if voices_per_style < 1:
        raise ValueError(f"voices_per_style={voices_per_style}; expected at least 1.")
    if not texts:
        raise ValueError("render_polytone needs at least one text.")
    if isinstance(renderer, str):
        from ..render import get_renderer

        renderer = get_renderer(renderer, **dict(renderer_kwargs or {}))
    pools = voice_split(dimension, renderer) if split_voices else None
    # the same number of clips per style for every text (capped by the smallest pool), so classes stay balanced
    n_voices = {sp: min(voices_per_style, *(len(v) for v in per.values())) for sp, per in pools.items()} \
        if pools else {}
    keys: dict = {}
    columns = {name: [] for name in ("audio",) + POLYTONE_COLUMNS}
    for i, item in enumerate(texts):
        record = {"text": item} if isinstance(item, str) else dict(item)
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text {i} is empty or not a string: {text!r}.")
        record_id = str(record.get("id") or f"text-{i:05d}")
        text_split = record.get("split") or split
        for style in styles:
            if pools is not None:
                if text_split not in pools:
                    raise ValueError(f"text {i} ({record_id}) has split {text_split!r}; split_voices knows "
                                     f"{sorted(pools)}.")
                pool, n = pools[text_split][style], n_voices[text_split]
                chosen = [pool[(i * n + j) % len(pool)] for j in range(n)]
                voice_keys = [_key_for_voice(renderer, style, v, keys) for v in chosen]
            else:
                voice_keys = [f"{record_id}-{j}" for j in range(voices_per_style)]
            for key in voice_keys:
                clip = renderer.render(text, style, key)
                voice = renderer.voice(style, key)
                columns["audio"].append({"array": clip.array, "sampling_rate": clip.sampling_rate})
                row = {"id": f"{record_id}-{style}-{voice}", "record_id": record_id, "split": text_split,
                       "dimension": dimension, "topic": str(record.get("topic") or ""), "style": style, "text": text,
                       "voice": voice, "source": getattr(renderer, "name", type(renderer).__name__)}
                for name in POLYTONE_COLUMNS:
                    columns[name].append(row[name])
    features = datasets.Features({"audio": datasets.Audio(sampling_rate=SAMPLING_RATE),
                                  **{name: datasets.Value("string") for name in POLYTONE_COLUMNS}})
    logger.info("rendered %d PolyTone clips (%d texts x %d styles)", len(columns["id"]), len(texts), len(styles))
    return datasets.Dataset.from_dict(columns, features=features)
