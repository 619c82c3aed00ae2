"""Teacher pairs for distilling the judge into a one-forward reward model (paper Part 3).

A teacher pair is a (query audio, response audio) pair with the teacher's score on the rubric's 1-5 scale. Every
builder returns a `TeacherPairs`: a `datasets.Dataset` with the columns `PAIR_COLUMNS` and the counts of what was
skipped (a pair without a score is left out and counted, never given a made-up score).

Columns:
- `id` (`str`): where the pair comes from (`<record id>__<sample>` for an evaluation run);
- `query_audio`, `response_audio`: file paths (a `string` column) or 16 kHz mono float32 samples (a list column):
  anything `parass2s_hf.load_audio` reads, read again by the collator;
- `dimension` (`str` or `None`), `requirement` (`str` or `None`): what the reward prompt says about the query
  (`prompts.reward_conversation`);
- `teacher_score` (`float`): the teacher's score, in [1, 5].

```python
>>> from parass2s_hf.distill import pairs_from_run, score_pairs_with_judge, pairs_from_function
>>> pairs, skipped = pairs_from_run("runs/cascade")                 # a finished `parass2s evaluate` run folder
>>> pairs, skipped = score_pairs_with_judge(judge, items)           # JudgeItems scored by the multi-stage judge
>>> pairs, skipped = pairs_from_function(queries, responses, fn)   # fn(query, response) -> score (deterministic)
>>> split = pairs.train_test_split(test_size=0.2, seed=0)
```
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING
from typing import Any, NamedTuple

import numpy as np

from ..audio import AudioError, load_audio
from ..constants import DIMENSIONS, SAMPLING_RATE, SCORE_MAX, SCORE_MIN
from ..io import read_json, resolve_inside

logger = logging.getLogger(__name__)

PAIR_COLUMNS = ("id", "query_audio", "response_audio", "dimension", "requirement", "teacher_score")
"""The columns of a teacher-pair dataset."""
SCORE_FIELDS = ("score_expected", "score")
"""Which judge output becomes the teacher score: the expected value over "1".."5" (where the judge has logits; it
carries the teacher's uncertainty into the soft target) or the integer score."""


class TeacherPairs(NamedTuple):
    """What a builder returns: the pairs and the counts of what was skipped, by reason."""

    dataset: Any
    """`datasets.Dataset` with the columns `PAIR_COLUMNS`."""
    skipped: Counter
    """Pairs left out, by reason (`no_score`, `missing`, `empty_response`, `no_response_audio`, `not_in_dataset`,
    `invalid_audio`), and `used_integer_score`: pairs kept with the judge's integer score as the teacher score because
    it gave no expected score."""


def check_teacher_score(value, where: str) -> float | None:
    """A teacher score as a float in [1, 5]; `None` stays `None` (a missing score).

    Raises:
        `ValueError`: not a number, not finite, or outside the rubric's scale (names `where`).
    """
    if value is None:
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: teacher score {value!r} is not a number.") from None
    if not math.isfinite(score) or not SCORE_MIN <= score <= SCORE_MAX:
        raise ValueError(f"{where}: teacher score {value!r} is outside the rubric's scale [{SCORE_MIN}, {SCORE_MAX}].")
    return score


def _audio_value(audio, sampling_rate: int | None, name: str):
    """A path stays a path (checked to exist); everything else is read through the audio door into 16 kHz samples.
    Raw arrays without a rate are taken to be at 16 kHz."""
    if isinstance(audio, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(audio))
        if not os.path.exists(path):
            raise AudioError(name, f"file not found: {path}")
        return path
    if isinstance(audio, (np.ndarray, list, tuple)) or hasattr(audio, "detach"):
        sampling_rate = sampling_rate or SAMPLING_RATE
    return load_audio(audio, sampling_rate, name=name).array


def pairs_to_dataset(rows: Sequence[Mapping]):
    """Build the teacher-pair dataset from dicts holding the `PAIR_COLUMNS` (`id`, `dimension` and `requirement` may
    be missing).

    Each audio column is kept as paths when every value is a path; otherwise every value is read through the audio
    door (paths included) and stored as 16 kHz mono float32 samples, so one column has one type. Raw arrays without a
    `sampling_rate` are taken to be at 16 kHz.

    Raises:
        `ValueError`: no rows, a row that is not a dict or lacks an audio column, an unknown dimension, or a teacher
            score that is missing or off the scale (names the row).
    """
    import datasets

    if not rows:
        raise ValueError("No teacher pairs: nothing to train or evaluate on.")
    records = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"pair {i} is a {type(row).__name__}, not a dict; expected dicts with the columns "  # noqa: TRY004
                             f"{list(PAIR_COLUMNS)}.")
        where = f"pair {row.get('id', i)!r}"
        missing = [c for c in ("query_audio", "response_audio") if c not in row]
        if missing:
            raise ValueError(f"{where}: missing {missing}; every pair needs query_audio, response_audio and "
                             f"teacher_score.")
        score = check_teacher_score(row.get("teacher_score"), where)
        if score is None:
            raise ValueError(f"{where} has no teacher_score; leave such pairs out (and count them) before building.")
        dimension = row.get("dimension") or None
        if dimension is not None and dimension not in DIMENSIONS:
            raise ValueError(f"{where}: unknown dimension {dimension!r}; expected one of {list(DIMENSIONS)} or None.")
        records.append({"id": str(row.get("id", i)), "query_audio": row["query_audio"],
                        "response_audio": row["response_audio"], "dimension": dimension,
                        "requirement": row.get("requirement") or None, "teacher_score": score})
    features = {"id": datasets.Value("string"), "dimension": datasets.Value("string"),
                "requirement": datasets.Value("string"), "teacher_score": datasets.Value("float64")}
    for column in ("query_audio", "response_audio"):
        if all(isinstance(r[column], str) for r in records):
            for r in records:
                r[column] = os.path.abspath(r[column])
            features[column] = datasets.Value("string")
        else:
            for r in records:
                name = f"pair {r['id']!r}: {column}"
                value = r[column]
                r[column] = (load_audio(os.fspath(value), name=name).array if isinstance(value, (str, os.PathLike))
                             else _audio_value(value, None, name))
            features[column] = datasets.List(datasets.Value("float32"))
    columns = {name: [r[name] for r in records] for name in PAIR_COLUMNS}
    return datasets.Dataset.from_dict(columns, features=datasets.Features({k: features[k] for k in PAIR_COLUMNS}))


def _log_skipped(source: str, kept: int, skipped: Counter) -> None:
    if skipped:
        logger.warning("%s: kept %d pairs, skipped %d (%s)", source, kept, sum(skipped.values()),
                       ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())))


def pairs_from_run(run_dir: str | os.PathLike, dataset=None, *, score_field: str = "score_expected",
                   include_empty: bool = False) -> TeacherPairs:
    """Teacher pairs from an evaluation run folder (`parass2s evaluate --output run_dir`): the judge's scores in
    `results.jsonl`, the response audio in `responses/`, and the query audio from the benchmark rows.

    Only the records of the run described by `run.json` (its system and judge fingerprints) are read; the last line
    of a (record, sample) wins. Skipped, and counted: records without a score (`no_score`: judge failures, system
    errors, invalid inputs), records whose response audio is missing (`no_response_audio`), empty or silent
    responses unless `include_empty` (`empty_response`: scored 1 by rule, not by the judge), and records whose id is
    not in `dataset` (`not_in_dataset`).

    Args:
        run_dir (`str`): the run folder.
        dataset (`datasets.Dataset`, *optional*): the benchmark rows the run evaluated (with `id`, `audio`,
            `dimension`, `requirement`). Loaded from `run.json`'s dataset settings when `None`.
        score_field (`str`, *optional*, defaults to `"score_expected"`): `"score_expected"` (the judge's expected value
            over "1".."5"; the integer `score` where a record has none, counted as `used_integer_score`) or
            `"score"`.
        include_empty (`bool`, *optional*, defaults to `False`): keep silent responses (a file exists) with their
            rule score 1.

    Returns:
        `TeacherPairs`: query audio as the benchmark's 16 kHz samples, response audio as absolute paths.

    Raises:
        `ValueError`: no `results.jsonl` in `run_dir`, a bad `score_field`, or no pair left; a damaged `run.json` or
            `results.jsonl` line, a record without the fields `parass2s evaluate` writes or with a score that is not a
            number, a `response_path` that leads outside `run_dir` (naming the file and the record); benchmark rows
            without `id` or `audio`.
    """
    from ..evaluation.records import STATUS_EMPTY
    from ..evaluation.runner import RESULTS_FILE, RUN_FILE, log_files
    from ..io import JsonlLog

    if score_field not in SCORE_FIELDS:
        raise ValueError(f"score_field must be one of {list(SCORE_FIELDS)}, got {score_field!r}.")
    run_dir = os.path.abspath(os.fspath(run_dir))
    results_paths = [p for p in log_files(run_dir, RESULTS_FILE) if os.path.exists(p)]  # a sharded run's parts too
    if not results_paths:
        raise ValueError(f"{run_dir} holds no {RESULTS_FILE}: pass the folder of a finished `parass2s evaluate` run.")
    identity = {}
    run_file = os.path.join(run_dir, RUN_FILE)
    if os.path.exists(run_file):
        identity = read_json(run_file, "run file")
        if not isinstance(identity, dict):
            raise ValueError(f"{run_file}: expected a JSON object (the run file), got {type(identity).__name__}.")
    records = {}
    source = {}
    for results_path in results_paths:
        for number, line in enumerate(JsonlLog(results_path), 1):
            record = _run_record(line, f"{results_path}, record {number}")
            if identity and (record.system_fingerprint, record.judge_fingerprint) != (
                    identity.get("system_fingerprint"), identity.get("judge_fingerprint")):
                continue
            records[(record.id, record.sample)] = record
            source[(record.id, record.sample)] = results_path
    if dataset is None:
        dataset = _run_dataset(run_dir, identity)
    lacking = [c for c in ("id", "audio") if c not in (getattr(dataset, "column_names", None) or [])]
    if lacking:
        raise ValueError(f"the benchmark rows have no column(s) {lacking} (columns: "
                         f"{getattr(dataset, 'column_names', None)}); pass the rows the run evaluated, with `id` and "
                         f"`audio`.")
    meta = dataset.select_columns([c for c in dataset.column_names if c != "audio"]).to_list()
    index_of = {row["id"]: i for i, row in enumerate(meta)}

    skipped, rows = Counter(), []
    for (record_id, sample), record in records.items():
        where = f"{source[(record_id, sample)]}, record {record_id!r} (sample {sample})"
        if record.status == STATUS_EMPTY and not include_empty:
            skipped["empty_response"] += 1
            continue
        if record.score is None and record.score_expected is None:
            skipped["no_score"] += 1
            continue
        # the response must be a file of the run folder: a results line must not make training read /etc/passwd
        path = resolve_inside(run_dir, record.response_path, f"{where}: response_path") if record.response_path \
            else None
        if path is None or not os.path.exists(path):
            skipped["no_response_audio"] += 1
            continue
        if record_id not in index_of:
            skipped["not_in_dataset"] += 1
            continue
        if score_field == "score_expected" and record.score_expected is None:
            skipped["used_integer_score"] += 1
            score = record.score
        else:
            score = record.score_expected if score_field == "score_expected" else record.score
        score = check_teacher_score(score, where)
        if score is None:
            skipped["no_score"] += 1
            continue
        row = meta[index_of[record_id]]
        try:
            query = load_audio(dataset[index_of[record_id]]["audio"], name=f"query {record_id}").array
        except AudioError as e:
            logger.warning("skipping %s: %s", record_id, e)
            skipped["invalid_audio"] += 1
            continue
        rows.append({"id": f"{record_id}__{sample}", "query_audio": query, "response_audio": path,
                     "dimension": record.dimension or row.get("dimension"), "requirement": row.get("requirement"),
                     "teacher_score": score})
    counted = Counter({k: v for k, v in skipped.items() if k != "used_integer_score"})
    _log_skipped(f"pairs_from_run({run_dir})", len(rows), counted)
    if skipped["used_integer_score"]:
        logger.warning("%d records had no expected score: their integer score is the teacher score",
                       skipped["used_integer_score"])
    if not rows:
        raise ValueError(f"No usable pair in {run_dir} ({dict(skipped) or 'no records of this run'}).")
    return TeacherPairs(pairs_to_dataset(rows), skipped)


def _run_record(line: dict, where: str):
    """One `results.jsonl` line as an `ItemRecord`; `ValueError` naming the file and record when it lacks a field
    `parass2s evaluate` writes or holds one of the wrong type."""
    from ..evaluation.records import ItemRecord

    names = f"{where} ({line['id']!r})" if "id" in line else where
    required = [name for name, spec in ItemRecord.__dataclass_fields__.items()
                if spec.default is MISSING and spec.default_factory is MISSING]
    missing = [name for name in required if name not in line]
    if missing:
        raise ValueError(f"{names}: missing field(s) {missing}; expected a line as `parass2s evaluate` writes it.")
    if not isinstance(line["id"], (str, int)) or isinstance(line["id"], bool):
        raise ValueError(f"{names}: id {line['id']!r} is a {type(line['id']).__name__}; expected a string.")  # noqa: TRY004
    if not isinstance(line["sample"], int) or isinstance(line["sample"], bool):
        raise ValueError(f"{names}: sample {line['sample']!r} is not an integer.")  # noqa: TRY004
    if not isinstance(line.get("response_path") or "", str):
        raise ValueError(f"{names}: response_path {line['response_path']!r} is not a path.")  # noqa: TRY004
    record = ItemRecord.from_dict(line)
    record.id = str(record.id)
    return record


def _run_dataset(run_dir: str, identity: Mapping):
    """The benchmark rows an evaluation run evaluated, from its `run.json`."""
    from ..bench import load_parass2sbench

    spec = identity.get("dataset") or {}
    if not isinstance(spec, Mapping):
        raise ValueError(f"{run_dir}/run.json: 'dataset' is a {type(spec).__name__}; expected an object with the "  # noqa: TRY004
                         f"dataset settings. Pass the benchmark rows as `dataset`.")
    if not spec.get("config"):
        raise ValueError(f"{run_dir}/run.json does not name its dataset; pass the benchmark rows as `dataset` "
                         f"(or --dataset_config on the command line).")
    kwargs = {k: spec[k] for k in ("iemocap_dir", "meld_dir") if spec.get(k)}
    return load_parass2sbench(spec["config"], split=spec.get("split") or "test", data_dir=spec.get("data_dir"),
                              **kwargs)


def score_pairs_with_judge(judge, items: Sequence, *, score_field: str = "score_expected",
                           batch_size: int = 32) -> TeacherPairs:
    """Score (query, response) pairs with a judge (the multi-stage judge: the teacher) and keep the scored ones.

    Args:
        judge (`ParaS2SJudge`): the teacher (anything with `score(items) -> list[JudgeResult]`).
        items (`list[JudgeItem | dict]`): the pairs, with `dimension` and `requirement` where known (they go into the
            reward prompt too).
        score_field (`str`, *optional*, defaults to `"score_expected"`): the judge output that becomes the teacher
            score (the integer `score` where the judge has no expected score, counted as `used_integer_score`).
        batch_size (`int`, *optional*, defaults to `32`): pairs per `judge.score` call (a progress line each).

    Returns:
        `TeacherPairs`; judge failures (`missing`, `invalid_input`) are skipped and counted by status.

    Raises:
        `ValueError`: a bad `score_field`, no items, a dict item with unknown fields or without the two clips, or no
            pair scored.
    """
    from ..judge.items import STATUS_OK

    if score_field not in SCORE_FIELDS:
        raise ValueError(f"score_field must be one of {list(SCORE_FIELDS)}, got {score_field!r}.")
    items = [_judge_item(item, i) for i, item in enumerate(items)]
    if not items:
        raise ValueError("No pairs to score.")
    skipped, rows = Counter(), []
    for start in range(0, len(items), batch_size):
        batch = items[start:start + batch_size]
        for offset, (item, result) in enumerate(zip(batch, judge.score(batch))):
            index = start + offset
            if result.status != STATUS_OK or (result.score is None and result.score_expected is None):
                skipped[result.status if result.status != STATUS_OK else "no_score"] += 1
                continue
            score = result.score_expected if score_field == "score_expected" else result.score
            if score is None:
                skipped["used_integer_score"] += 1
                score = result.score
            name = f"pair {item.item_id or index}"
            rows.append({"id": str(item.item_id or index),
                         "query_audio": _audio_value(item.query_audio, item.sampling_rate, f"{name}: query_audio"),
                         "response_audio": _audio_value(item.response_audio, item.sampling_rate,
                                                        f"{name}: response_audio"),
                         "dimension": item.dimension, "requirement": item.requirement, "teacher_score": score})
        logger.info("scored %d/%d pairs with the teacher", min(len(items), start + batch_size), len(items))
    _log_skipped("score_pairs_with_judge", len(rows), Counter({k: v for k, v in skipped.items()
                                                              if k != "used_integer_score"}))
    if not rows:
        raise ValueError(f"The judge scored none of the {len(items)} pairs ({dict(skipped)}).")
    return TeacherPairs(pairs_to_dataset(rows), skipped)


def _judge_item(item, index: int):
    """A `JudgeItem` from a dict (its fields named in the message when a key is unknown or missing)."""
    from dataclasses import fields

    from ..judge.items import JudgeItem

    if not isinstance(item, Mapping):
        return item
    known = [f.name for f in fields(JudgeItem)]
    unknown = [k for k in item if k not in known]
    missing = [k for k in ("query_audio", "response_audio") if k not in item]
    if unknown or missing:
        problems = ([f"unknown field(s) {unknown}"] if unknown else []) + ([f"missing {missing}"] if missing else [])
        name = repr(item["item_id"]) if item.get("item_id") else index
        raise ValueError(f"item {name}: {'; '.join(problems)}; a JudgeItem has the fields {known}.")
    return JudgeItem(**item)


def pairs_from_function(queries: Sequence, responses: Sequence, fn: Callable[[np.ndarray, np.ndarray], float | None],
                        *, dimensions: str | Sequence[str | None] | None = None,
                        requirements: str | Sequence[str | None] | None = None,
                        ids: Sequence[str] | None = None) -> TeacherPairs:
    """Teacher pairs from a deterministic teacher: `fn(query, response)` computed on the two clips (16 kHz samples).

    Args:
        queries, responses (`list`): the clips, pairwise (paths, arrays at 16 kHz, `{"array", "sampling_rate"}`
            dicts, ...: anything `load_audio` reads).
        fn (`Callable`): the teacher; returns a score in [1, 5], or `None` for no score (skipped, counted).
        dimensions, requirements (`str` or `list`, *optional*): one for every pair, or one per pair.
        ids (`list[str]`, *optional*): pair ids (defaults to the index).

    Raises:
        `ValueError`: the lists differ in length, or `fn` returns a score off the scale (names the pair).
    """
    n = len(queries)
    if len(responses) != n:
        raise ValueError(f"{n} queries but {len(responses)} responses; pairs_from_function pairs them one to one.")

    def per_pair(value, name):
        if value is None or isinstance(value, str):
            return [value] * n
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries for {n} pairs.")
        return list(value)

    dims, reqs = per_pair(dimensions, "dimensions"), per_pair(requirements, "requirements")
    ids = [str(i) for i in (ids if ids is not None else range(n))]
    skipped, rows = Counter(), []
    for i in range(n):
        query = _audio_value(queries[i], None, f"pair {ids[i]!r}: query_audio")
        response = _audio_value(responses[i], None, f"pair {ids[i]!r}: response_audio")
        as_array = [load_audio(a, name=f"pair {ids[i]!r}").array if isinstance(a, str) else a
                    for a in (query, response)]
        score = check_teacher_score(fn(*as_array), f"pair {ids[i]!r}")
        if score is None:
            skipped["no_score"] += 1
            continue
        rows.append({"id": ids[i], "query_audio": query, "response_audio": response, "dimension": dims[i],
                     "requirement": reqs[i], "teacher_score": score})
    _log_skipped("pairs_from_function", len(rows), skipped)
    if not rows:
        raise ValueError(f"The teacher scored none of the {n} pairs.")
    return TeacherPairs(pairs_to_dataset(rows), skipped)


def rendered_candidates(rows, renderer, *, styles_per_query: int = 2, seed: int = 0) -> list:
    """Candidate responses to score with the teacher when no policy samples exist yet: per benchmark row, its
    reference reply spoken in its reference style (a fitting reply) and in `styles_per_query` other reply styles
    drawn at random (the same words in a wrong tone), so the teacher's scores spread over the scale.

    Args:
        rows (`datasets.Dataset` or `list[dict]`): ParaS2SBench rows (`id`, `audio`, `dimension`, `style`, `text`,
            `requirement`, `reference_reply`, `reference_reply_style`); rows without a reference reply are skipped.
        renderer: a renderer (`parass2s_hf.get_renderer("espeak-ng")`).
        styles_per_query (`int`, *optional*, defaults to `2`): mismatched styles per row.
        seed (`int`, *optional*, defaults to `0`): seed of the style draw.

    Returns:
        `list[JudgeItem]` with `item_id` `<row id>__<reply style>`.

    Raises:
        `ValueError`: a row without `id` or `audio`, a reference reply that is not text (naming the row), or no row
            with a reference reply.
    """
    from ..constants import REPLY_STYLES
    from ..judge.items import JudgeItem

    rng = np.random.default_rng(seed)
    items = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"row {i} is a {type(row).__name__}, not a dict; expected ParaS2SBench rows.")  # noqa: TRY004
        missing = [c for c in ("id", "audio") if c not in row]
        if missing:
            raise ValueError(f"row {row.get('id', i)!r} has no {missing[0]!r}; candidates need ParaS2SBench rows with "
                             f"`id`, `audio` and a reference reply.")
        reply, own = row.get("reference_reply") or "", row.get("reference_reply_style")
        if not isinstance(reply, str):
            raise ValueError(f"row {row['id']!r}: reference_reply {reply!r} is a {type(reply).__name__}; expected "  # noqa: TRY004
                             f"text.")
        reply = reply.strip()
        if not reply or own not in REPLY_STYLES:
            continue
        query = load_audio(row["audio"], name=f"query {row['id']}").array
        others = [s for s in REPLY_STYLES if s != own]
        for style in [own, *rng.choice(others, size=min(styles_per_query, len(others)), replace=False)]:
            response = renderer.render(reply, str(style), voice_key="assistant").array
            items.append(JudgeItem(query_audio=query, response_audio=response, sampling_rate=SAMPLING_RATE,
                                   dimension=row.get("dimension"), query_style=row.get("style"),
                                   query_text=row.get("text") or None, requirement=row.get("requirement") or None,
                                   item_id=f"{row['id']}__{style}"))
    if not items:
        raise ValueError("No row has a reference reply to render: use a synthetic ParaS2SBench config.")
    return items


def query_key(pair_id: str) -> str:
    """The query a pair id belongs to: the part before `__` (`<record id>__<sample>`, `<row id>__<reply style>`)."""
    return str(pair_id).split("__", 1)[0]


def split_pairs(dataset, eval_fraction: float = 0.1, seed: int = 0):
    """Hold out whole queries: every response to a held-out query is in `test`, none in `train` (pairs of one query
    share its audio, so splitting them would let the model memorise the query).

    Args:
        dataset (`datasets.Dataset`): teacher pairs.
        eval_fraction (`float`, *optional*, defaults to `0.1`): share of the queries held out (at least one, and at
            least one left to train on).
        seed (`int`, *optional*, defaults to `0`): seed of the draw.

    Returns:
        `datasets.DatasetDict` with `train` and `test`.

    Raises:
        `ValueError`: `eval_fraction` outside (0, 1), no `id` column, or fewer than two queries.
    """
    import datasets

    if not 0 < eval_fraction < 1:
        raise ValueError(f"eval_fraction must be between 0 and 1 (exclusive), got {eval_fraction!r}.")
    if "id" not in (getattr(dataset, "column_names", None) or []):
        raise ValueError(f"the pairs have no 'id' column (columns: {getattr(dataset, 'column_names', None)}); pass "
                         f"teacher pairs as the pair builders return them.")
    keys = [query_key(i) for i in dataset["id"]]
    queries = sorted(set(keys))
    if len(queries) < 2:
        raise ValueError(f"Holding out pairs needs at least two queries; the pairs hold {len(queries)}.")
    n_eval = min(len(queries) - 1, max(1, round(eval_fraction * len(queries))))
    held_out = set(np.random.default_rng(seed).permutation(queries)[:n_eval].tolist())
    test = [i for i, k in enumerate(keys) if k in held_out]
    train = [i for i, k in enumerate(keys) if k not in held_out]
    return datasets.DatasetDict({"train": dataset.select(train), "test": dataset.select(test)})
