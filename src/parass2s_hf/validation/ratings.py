"""Human ratings and judge scores, matched into (human, judge) pairs.

A ratings file (CSV, or JSONL with one object a line) holds one human rating of a (query, response) pair a row:

| column | | |
|---|---|---|
| `id` | required | the item: a benchmark record id (the same id as in a run's `results.jsonl`) |
| `human_score` | required | the rating, 1-5 (a float: mean opinion scores are fine) |
| `system` | optional | which system produced the response (needed with several `--run` folders) |
| `dimension` | optional | the query's dimension or corpus (`age`, ..., `iemocap`, `meld`): the Table-2 column |
| `subset` | optional | the same, under the evaluation report's name; wins over `dimension` |
| `judge_score` | optional | the judge's score of the same pair, when it is not read from a run folder |
| `sample` | optional | which of the run's `num_samples` responses was rated (a whole number, as in `results.jsonl`) |
| `rater` | optional | who rated; in a folder of ratings files, defaults to the file's name |
| `run` | optional | the run folder the rated response came from (named in errors, never read) |

`ratings` may also be a folder of such files, one per rater (every `*.jsonl` and `*.csv` inside, not its subfolders):
what `parass2s listen` writes, `<folder>/<rater>.jsonl`. Where the rater is known (the `rater` column, or the file's
name), the last rating of a (rater, system, id, sample) wins: a rater who changed their mind is counted once, as they
last said.

Several rows with the same (`system`, `id`) are several raters (or samples): their scores are averaged, and the number
of raters is kept. Judge scores come from the `judge_score` column or from evaluation run folders (`results.jsonl`, one
`ItemRecord` a line; the system's name from `manifest.json`, see `run_name`). A rating with a `sample` is matched to the
judge's score of that sample; one without is matched to the item's score, the mean of its samples' scores. An item
whose judge gave no score is kept and counted, never given an invented one.

```python
>>> from parass2s_hf.validation import load_pairs
>>> data = load_pairs("ratings.csv", runs=["runs/omni", "runs/cascade"])
>>> data.pairs[0].human, data.pairs[0].raters, data.pairs[0].judge, data.pairs[0].group
(4.5, 2, 4.0, 'emotion')
```
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from ..constants import SCORE_MAX, SCORE_MIN
from ..evaluation.records import SCORED_STATUSES
from ..io import JsonlLog, iter_jsonl, read_json

REQUIRED_COLUMNS = ("id", "human_score")
OPTIONAL_COLUMNS = ("system", "dimension", "subset", "judge_score", "sample", "rater", "run")
RATING_FILES = (".jsonl", ".csv")
"""What a ratings folder's files end with: each is one rater's ratings file."""
JUDGE_FIELDS = ("score", "score_expected")
"""The `ItemRecord` fields a judge score can be read from."""
SHOWN = 20
"""How many offending ids an error message names."""


@dataclass
class RatedPair:
    """One rated (query, response) pair: the mean human rating and the judge's score.

    Attributes:
        id (`str`): the item id.
        system (`str` or `None`): the system that produced the response.
        human (`float`): the mean of its ratings (over raters and rated samples).
        raters (`int`): how many raters rated it (a rating that names no rater counts as one rater).
        judge (`float` or `None`): the judge's score: with a `sample` column, the mean over the ratings of the judge's
            score of each rated sample; without, the mean over the item's samples. `None` when the judge gave none.
        group (`str` or `None`): the Table-2 column: the run's subset, else the ratings' `subset` or `dimension`.
        judge_reason (`str`): why there is no judge score; empty when there is one.
        ratings (`int`, *optional*): how many ratings `human` averages (defaults to `raters`: one each).
        samples (`list[int]` or `None`): the rated samples; `None` when the ratings have no `sample`.
    """

    id: str
    system: str | None
    human: float
    raters: int
    judge: float | None = None
    group: str | None = None
    judge_reason: str = ""
    ratings: int | None = None
    samples: list | None = None

    def __post_init__(self):
        if self.ratings is None:
            self.ratings = self.raters

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunScores:
    """The judge's scores of one evaluation run folder, one value per item.

    Attributes:
        path (`str`): the run folder.
        system (`str`): its name (`manifest.json` `label`, else `system.name`, else `run.json` `system`, else the
            folder's name).
        scores (`dict[str, float | None]`): per item id, the mean of its samples' scores (`None`: no score).
        subsets (`dict[str, str]`): per item id, its subset.
        reasons (`dict[str, str]`): per unscored item id, why (its statuses and reason).
        judge (`dict`): the judge's config and fingerprint from the manifest (empty without one).
        sample_scores (`dict[tuple[str, int], float | None]`): per (item id, sample), that sample's score.
        sample_reasons (`dict[tuple[str, int], str]`): per unscored (item id, sample), why.
    """

    path: str
    system: str
    scores: dict = field(default_factory=dict)
    subsets: dict = field(default_factory=dict)
    reasons: dict = field(default_factory=dict)
    judge: dict = field(default_factory=dict)
    sample_scores: dict = field(default_factory=dict)
    sample_reasons: dict = field(default_factory=dict)


@dataclass
class LoadedPairs:
    """What `load_pairs` returns.

    Attributes:
        pairs (`list[RatedPair]`): one per rated (system, id), in the ratings file's order.
        source (`dict`): the ratings file (or folder and its files), its rows, raters, and where the judge scores
            came from.
        notes (`list[str]`): what was ignored or could not be used, in words.
        ratings (`list[dict]`): the live ratings (the last of each rater's re-ratings), one dict each: `rater`
            (`None` when unnamed), `system`, `id`, `sample` (`None` without the column), `human_score`: the
            inter-rater agreement's input (`stats.inter_rater_agreement`).
    """

    pairs: list[RatedPair]
    source: dict
    notes: list[str] = field(default_factory=list)
    ratings: list[dict] = field(default_factory=list)


def _name_list(names: Sequence, what: str) -> str:
    names = list(names)
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return f"{len(names)} {what}: {', '.join(map(str, names[:SHOWN]))}{more}"


def _is_jsonl(path: str) -> bool:
    lower = path.lower()
    if lower.endswith((".jsonl", ".json", ".ndjson")):
        return True
    if lower.endswith((".csv", ".tsv")):
        return False
    with open(path, encoding="utf-8", errors="replace") as f:  # the first character decides; decoding is checked later
        head = f.read(4096).lstrip()
    return head.startswith("{")


def rating_files(folder: str | os.PathLike) -> list[str]:
    """The ratings files of a ratings folder: every `*.jsonl` and `*.csv` directly inside it, sorted by name.

    Hidden files are left out (an editor's or an interrupted copy's leftovers are no rater's ratings).

    Raises:
        `ValueError`: `folder` is not a folder, or holds no such file (naming it and what was expected).
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"ratings folder {folder!r} does not exist.")
    files = sorted(os.path.join(folder, name) for name in os.listdir(folder)
                   if name.lower().endswith(RATING_FILES) and not name.startswith(".")
                   and os.path.isfile(os.path.join(folder, name)))
    if not files:
        raise ValueError(f"ratings folder {folder!r} holds no ratings file: expected one `<rater>.jsonl` (or `.csv`) "
                         f"per rater directly inside it, as `parass2s listen` writes them.")
    return files


def read_ratings(path: str | os.PathLike) -> list[dict]:
    """Read a ratings file (CSV or JSONL), or a folder of them, into rows with `id`, `human_score` and the optional
    columns.

    Args:
        path (`str`): a `.csv`/`.tsv` file with a header line, or a `.jsonl` file of objects (other names are
            recognised by their first character); or a folder of `*.jsonl` / `*.csv` files, one per rater
            (`rating_files`), where an empty file (a rater who undid every rating) is skipped.

    Returns:
        `list[dict]`: one dict per row, in file then line order: `id` (`str`), `human_score` (`float`), `system`
        (`str` or `None`), `group` (the `subset` column, else `dimension`, lower-cased; `None` when neither),
        `judge_score` (`float` or `None`), `sample` (`int` or `None`), `rater` (`str` or `None`; in a folder, the
        file's name without its extension when the row names none), `run` (`str` or `None`), `file` (the file it
        came from) and `line` (the row's line number in that file).

    Raises:
        `ValueError`: a missing file, or a folder without ratings files or ratings; a file that is not UTF-8 text,
            missing columns (named, with the file), a damaged JSONL line, an empty id or one that is a list or object,
            a `human_score` that is not a number in 1-5, a `judge_score` that is not a number (`true` is none), or a
            `sample` that is not a whole number of at least 0 (naming the file and line).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        rows = []
        for file in rating_files(path):
            # A rater's file is named after them: their rows need no rater column.
            rater = os.path.splitext(os.path.basename(file))[0]
            rows += [{**row, "rater": row["rater"] or rater} for row in _read_file(file, allow_empty=True)]
        if not rows:
            raise ValueError(f"ratings folder {path!r} holds no ratings: its files "
                             f"({', '.join(os.path.basename(f) for f in rating_files(path))}) are empty.")
        return rows
    if not os.path.isfile(path):
        raise ValueError(f"ratings file {path!r} does not exist.")
    return _read_file(path)


def _read_file(path: str, allow_empty: bool = False) -> list[dict]:
    """The rows of one ratings file; with `allow_empty`, an empty file (no rating, or no line at all) gives `[]`."""
    try:
        raw, columns = _read_raw(path)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e}); save the ratings file as UTF-8 (CSV or JSONL).") from None
    if not raw and allow_empty:
        return []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        found = sorted(c for c in columns if c)
        raise ValueError(f"ratings file {path}: missing required column(s) {missing} (columns found: {found}); a "
                         f"ratings file needs {list(REQUIRED_COLUMNS)} and may have {list(OPTIONAL_COLUMNS)}.")
    if not raw:
        raise ValueError(f"ratings file {path} holds no ratings.")
    return [_parse_row(path, number, record) for number, record in raw]


def _read_raw(path: str) -> tuple[list[tuple[int, dict]], set]:
    """The rows of a ratings file as (line number, record), and the columns found."""
    raw: list[tuple[int, dict]] = []
    if _is_jsonl(path):
        # No `required` here: a column missing from the whole file is named first, by `read_ratings`.
        raw = list(iter_jsonl(path, "ratings file"))
        columns = {column for _, record in raw for column in record}
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if not missing:
            for number, record in raw:
                lacking = [c for c in REQUIRED_COLUMNS if c not in record]
                if lacking:
                    raise ValueError(f"{path}, line {number}: missing column(s) {lacking}; every rating needs "
                                     f"{list(REQUIRED_COLUMNS)}.")
    else:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
        delimiter = "\t" if path.lower().endswith(".tsv") else ","
        reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
        columns = {(c or "").strip() for c in (reader.fieldnames or [])}
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if not missing:
            for number, record in enumerate(reader, 2):
                raw.append((number, {(k or "").strip(): v for k, v in record.items()}))
    return raw, columns


def _text(value, where: str = "", column: str = "") -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):  # a JSONL value str() would turn into an id nobody can match
        raise ValueError(f"{where}: {column} {value!r} is a {type(value).__name__}; expected a string.")  # noqa: TRY004
    text = str(value).strip()
    return text or None


def _number(path: str, number: int, column: str, value, *, required: bool) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{path}, line {number}: {column} is empty; every rating needs a score in "
                             f"{SCORE_MIN}-{SCORE_MAX}.")
        return None
    if isinstance(value, (bool, dict, list)):  # float(True) is 1.0: a JSON true is no rating
        raise ValueError(f"{path}, line {number}: {column} {value!r} is not a number.")  # noqa: TRY004
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{path}, line {number}: {column} {value!r} is not a number.") from None
    if not math.isfinite(out):
        raise ValueError(f"{path}, line {number}: {column} is {value!r}; expected a finite number.")
    return out


def _parse_row(path: str, number: int, record: dict) -> dict:
    where = f"{path}, line {number}"
    item = _text(record.get("id"), where, "id")
    if item is None:
        raise ValueError(f"{where}: id is empty.")
    human = _number(path, number, "human_score", record.get("human_score"), required=True)
    if not SCORE_MIN <= human <= SCORE_MAX:
        raise ValueError(f"{where}: human_score {human:g} is outside the rating scale {SCORE_MIN}-{SCORE_MAX}.")
    group = _text(record.get("subset"), where, "subset") or _text(record.get("dimension"), where, "dimension")
    return {"id": item, "human_score": human, "system": _text(record.get("system"), where, "system"),
            "group": group.lower() if group else None,
            "judge_score": _number(path, number, "judge_score", record.get("judge_score"), required=False),
            "sample": _sample(where, record.get("sample")), "rater": _text(record.get("rater"), where, "rater"),
            "run": _text(record.get("run"), where, "run"), "file": path, "line": number}


def _sample(where: str, value) -> int | None:
    """A rating's `sample`: a whole number of at least 0 (`"2"` in a CSV, `2` or `2.0` in JSON), or `None` if blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = None
    if isinstance(value, int) and not isinstance(value, bool):  # a JSON true is no sample
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            parsed = math.nan
        number = int(parsed) if parsed.is_integer() else None
    if number is None or number < 0:
        raise ValueError(f"{where}: sample {value!r} is not a whole number of at least 0 (which of a run's "
                         f"responses to the query was rated, as in its results.jsonl).")
    return number


def _read_object(path: str, what: str) -> dict:
    """A JSON file holding an object; `ValueError` naming the file when it is damaged or holds something else."""
    content = read_json(path, what)
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a JSON object (the {what}), got {type(content).__name__}.")  # noqa: TRY004
    return content


def run_name(path: str | os.PathLike, manifest: dict) -> str:
    """The name of an evaluation run, as ratings name it in their `system` column.

    Args:
        path (`str`): the run folder.
        manifest (`dict`): its `manifest.json` (`{}` without one).

    Returns:
        `str`: the manifest's `label`, else its `system.name`, else `run.json`'s `system`, else the folder's name.

    Raises:
        `ValueError`: a damaged `run.json` (read only when the manifest names nothing).
    """
    path = os.fspath(path)
    if manifest.get("label"):
        return str(manifest["label"])
    if (manifest.get("system") or {}).get("name"):
        return str(manifest["system"]["name"])
    run_file = os.path.join(path, "run.json")
    if os.path.exists(run_file):
        name = _read_object(run_file, "run file").get("system")
        if name:
            return str(name)
    return os.path.basename(os.path.normpath(path))


def read_run(path: str | os.PathLike, judge_field: str = "score") -> RunScores:
    """The judge's score of every item of one evaluation run folder.

    Args:
        path (`str`): the run folder (`results.jsonl`, and `manifest.json` for the system's name).
        judge_field (`str`, *optional*, defaults to `"score"`): `"score"` (the rubric's 1-5) or `"score_expected"`.

    Returns:
        `RunScores`. Only lines made with the manifest's system and judge fingerprints count (a folder can hold lines
        from earlier settings); the last line of each (id, sample) wins; an item's score is the mean over its samples
        whose status is scored (`ok`, `empty_response`); an item with none has `None` and a reason. Each sample's own
        score is kept too (`sample_scores`), for ratings of one sample.

    Raises:
        `ValueError`: an unknown `judge_field`, a folder without `results.jsonl`, a damaged line or `manifest.json` /
            `run.json`, or a line whose `id`, `sample` or score has the wrong type (naming the file and the record).
    """
    if judge_field not in JUDGE_FIELDS:
        raise ValueError(f"judge_field must be one of {list(JUDGE_FIELDS)}, got {judge_field!r}.")
    path = os.fspath(path)
    results = os.path.join(path, "results.jsonl")
    if not os.path.isfile(results):
        raise ValueError(f"run folder {path!r} has no results.jsonl: pass an evaluation run folder "
                         f"(`parass2s evaluate --output ...`).")
    manifest = {}
    manifest_file = os.path.join(path, "manifest.json")
    if os.path.exists(manifest_file):
        manifest = _read_object(manifest_file, "run manifest")
        for key in ("system", "judge"):
            if manifest.get(key) is not None and not isinstance(manifest[key], dict):
                raise ValueError(f"{manifest_file}: {key!r} is a {type(manifest[key]).__name__}; expected an object "
                                 f"(as `parass2s evaluate` writes it).")
    want_system = (manifest.get("system") or {}).get("fingerprint")
    want_judge = (manifest.get("judge") or {}).get("fingerprint")
    latest: dict = {}
    for line in JsonlLog(results):
        if "id" not in line:
            raise ValueError(f"{results}: a line without an id: {json.dumps(line)[:200]}")
        where = f"{results}, record {line['id']!r}"
        if isinstance(line["id"], (dict, list)):
            raise ValueError(f"{where}: id is a {type(line['id']).__name__}; expected a string.")  # noqa: TRY004
        sample = line.get("sample", 0)
        if not isinstance(sample, int) or isinstance(sample, bool):
            raise ValueError(f"{where}: sample {sample!r} is not an integer.")  # noqa: TRY004
        if want_system and line.get("system_fingerprint") not in (None, want_system):
            continue
        if want_judge and line.get("judge_fingerprint") not in (None, want_judge):
            continue
        latest[(str(line["id"]), sample)] = line
    out = RunScores(path=path, system=run_name(path, manifest), judge=manifest.get("judge") or {})
    values: dict = defaultdict(list)
    statuses: dict = defaultdict(list)
    for (item, sample), line in latest.items():
        out.subsets.setdefault(item, line.get("subset") or line.get("dimension"))
        value = line.get(judge_field)
        status = line.get("status", "ok")
        if status in SCORED_STATUSES and value is not None:
            try:
                if isinstance(value, bool):
                    raise TypeError
                values[item].append(float(value))
            except (TypeError, ValueError):
                raise ValueError(f"{results}, record {item!r} (sample {sample}): {judge_field} {value!r} is not a "
                                 f"number.") from None
            out.sample_scores[(item, sample)] = values[item][-1]
        else:
            statuses[item].append(f"{status}" + (f" ({line['reason']})" if line.get("reason") else ""))
            out.sample_scores[(item, sample)] = None
            out.sample_reasons[(item, sample)] = (f"no {judge_field} in {os.path.basename(path)} (sample {sample}): "
                                                  f"{statuses[item][-1]}")
    for item in out.subsets:
        if values[item]:
            out.scores[item] = sum(values[item]) / len(values[item])
        else:
            out.scores[item] = None
            out.reasons[item] = f"no {judge_field} in {os.path.basename(path)}: " + "; ".join(statuses[item])
    return out


def _judge_label(runs: list[RunScores], judge_field: str) -> str:
    configs = {json.dumps(r.judge.get("config") or {}, sort_keys=True) for r in runs}
    label = "judge"
    if len(configs) == 1:
        config = json.loads(configs.pop())
        if config.get("mode"):
            label = f"{config['mode']} judge"
    return label if judge_field == "score" else f"{label} ({judge_field})"


def load_pairs(ratings: str | os.PathLike, runs: Sequence[str | os.PathLike] = (),
               judge_field: str = "score") -> LoadedPairs:
    """Read ratings, take the judge's scores from them or from run folders, and match them per (system, id).

    Args:
        ratings (`str`): the ratings file, or a folder of ratings files, one per rater (see the module docstring).
        runs (`list[str]`, *optional*): evaluation run folders, one per system; without them the `judge_score`
            column gives the judge's scores.
        judge_field (`str`, *optional*, defaults to `"score"`): the run field to read (`score` or `score_expected`).

    Returns:
        `LoadedPairs`: the pairs (raters and samples averaged), the live ratings, where the scores came from, and
        notes. A rating with a `sample` is paired with the judge's score of that sample; where the judge scored only
        some of an item's rated samples, the pair averages those (human and judge alike) and a note counts the others.

    Raises:
        `ValueError`: bad ratings (see `read_ratings`); no judge scores at all; two runs with one name; several runs and
            ratings without a `system` column; systems, ids or (id, sample)s in the ratings that no run holds (named:
            the first 20 and the count); one rater's rating of the same (system, id, sample) in two files.
    """
    if judge_field not in JUDGE_FIELDS:
        raise ValueError(f"judge_field must be one of {list(JUDGE_FIELDS)}, got {judge_field!r}.")
    path = os.fspath(ratings)
    rows = read_ratings(path)
    what = "ratings folder" if os.path.isdir(path) else "ratings file"
    notes: list[str] = []
    source: dict = {"ratings": path, "rows": len(rows), "judge_field": judge_field}
    if os.path.isdir(path):
        files = rating_files(path)
        source["files"] = [os.path.basename(f) for f in files]
        used = {r["file"] for r in rows}
        empty = [os.path.basename(f) for f in files if f not in used]
        if empty:
            notes.append(f"{len(empty)} ratings file(s) in {path} hold no rating and were skipped: "
                         f"{', '.join(empty[:SHOWN])}" + (f" and {len(empty) - SHOWN} more." if len(empty) > SHOWN
                                                          else "."))
    loaded = [read_run(r, judge_field) for r in runs]
    names = [r.system for r in loaded]
    if len(loaded) == 1:  # one run: a rating without a system is a rating of that run's system
        rows = [{**row, "system": row["system"] or names[0]} for row in rows]
    rows, superseded = _live(rows)
    if superseded:
        notes.append(f"{superseded} rating(s) were given again by the same rater to the same (system, id, sample): "
                     f"only the last counts.")
    grouped: dict = {}
    for row in rows:
        grouped.setdefault((row["system"], row["id"]), []).append(row)
    has_judge_column = any(r["judge_score"] is not None for r in rows)
    source.update(items=len(grouped), raters=sorted({r["rater"] for r in rows if r["rater"] is not None}),
                  superseded=superseded)
    pairs: list[RatedPair] = []

    if runs:
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"several --run folders are named {dupes} (a run's name is its manifest label, else its "
                             f"system name); evaluate them with distinct --label values.")
        by_name = {r.system: r for r in loaded}
        if has_judge_column:
            notes.append("the ratings' judge_score column was ignored: judge scores come from the run folder(s).")
        systems_named = sorted({s for s, _ in grouped if s is not None})
        if len(loaded) > 1 and any(s is None for s, _ in grouped):
            raise ValueError(f"{what} {path}: with several --run folders ({names}) every rating needs a "
                             f"`system` column naming its run.")
        unknown_systems = [s for s in systems_named if s not in by_name]
        if unknown_systems:
            # The listening page writes each rating's run folder: name them, the likely fix.
            came_from = sorted({r["run"] for r in rows if r["system"] in unknown_systems and r["run"]})
            hint = f" The ratings came from run folder(s) {came_from}: pass them with --run." if came_from else ""
            raise ValueError(f"{what} {path} names system(s) {unknown_systems} that no --run folder holds; the "
                             f"runs are {names} (a run's name is its manifest label, else its system name).{hint}")
        unknown = [f"{item}" if len(loaded) == 1 else f"{item} ({system})" for system, item in grouped
                   if item not in by_name[system].scores]
        if unknown:
            where = loaded[0].path if len(loaded) == 1 else "the --run folders"
            raise ValueError(f"{what} {path}: {_name_list(unknown, 'id(s) not in ' + where)}. Rate items of "
                             f"the evaluated runs, or pass the run folders that hold them.")
        unknown = list(dict.fromkeys(
            f"{r['id']} sample {r['sample']}" + ("" if len(loaded) == 1 else f" ({r['system']})") for r in rows
            if r["sample"] is not None and (r["id"], r["sample"]) not in by_name[r["system"]].sample_scores))
        if unknown:
            where = loaded[0].path if len(loaded) == 1 else "the --run folders"
            raise ValueError(f"{what} {path}: {_name_list(unknown, 'rated sample(s) not in ' + where)} (a run's "
                             f"results made with its manifest's system and judge). Pass the run folders the ratings "
                             f"were made from.")
        left_out = 0
        for (system, item), group in grouped.items():
            run = by_name[system]
            judged, reasons = [], []
            for row in group:
                if row["sample"] is None:  # no sample column: the item's score, the mean over its samples
                    score, reason = run.scores[item], run.reasons.get(item, "")
                else:  # the judge's score of the response the rater heard
                    score, reason = run.sample_scores[(item, row["sample"])], run.sample_reasons.get(
                        (item, row["sample"]), "")
                if score is None:
                    reasons.append(reason)
                else:
                    judged.append((row, score))
            if judged:  # human and judge over the same ratings, so both weight the rated samples alike
                left_out += len(group) - len(judged)
                used = [row for row, _ in judged]
                judge, judge_reason = _mean(score for _, score in judged), ""
            else:
                used, judge, judge_reason = group, None, "; ".join(dict.fromkeys(reasons))
            pairs.append(_pair(item, run.system, used, judge, run.subsets.get(item) or group[0]["group"],
                               judge_reason))
        if left_out:
            notes.append(f"{left_out} rating(s) of samples the judge gave no score were left out of their item's "
                         f"pair (the item's other rated samples are scored).")
        source.update(judge_source="run", runs=[{"path": r.path, "system": r.system, "items": len(r.scores),
                                                 "judge_fingerprint": r.judge.get("fingerprint")} for r in loaded],
                      judge_label=_judge_label(loaded, judge_field))
    else:
        if not has_judge_column:
            raise ValueError(f"{what} {path} gives no judge scores: add a judge_score column, or pass --run "
                             f"with the evaluation run folder(s) that judged these items.")
        inconsistent = 0
        for (system, item), group in grouped.items():
            judged = [r["judge_score"] for r in group if r["judge_score"] is not None]
            inconsistent += len(set(judged)) > 1
            pairs.append(_pair(item, system, group, _mean(judged) if judged else None, group[0]["group"],
                               "" if judged else "empty judge_score"))
        if inconsistent:
            notes.append(f"{inconsistent} item(s) have different judge_score values on their rows: averaged.")
        source.update(judge_source="column", judge_label="judge" if judge_field == "score" else "judge (column)")
    raters = [p.raters for p in pairs]
    source["raters_per_item"] = {"min": min(raters), "max": max(raters), "mean": round(sum(raters) / len(raters), 4)}
    live = [{key: r[key] for key in ("rater", "system", "id", "sample", "human_score")} for r in rows]
    return LoadedPairs(pairs=pairs, source=source, notes=notes, ratings=live)


def _pair(item: str, system: str | None, rows: list[dict], judge: float | None, group: str | None,
          judge_reason: str) -> RatedPair:
    """The pair of one (system, id) from its ratings: a named rater counts once however many samples they rated; a
    rating without a rater is one rater (as raters were counted before ratings named them)."""
    named = {r["rater"] for r in rows if r["rater"] is not None}
    samples = sorted({r["sample"] for r in rows if r["sample"] is not None})
    return RatedPair(id=item, system=system, human=_mean(r["human_score"] for r in rows),
                     raters=len(named) + sum(r["rater"] is None for r in rows), judge=judge, group=group,
                     judge_reason=judge_reason, ratings=len(rows), samples=samples or None)


def _live(rows: list[dict]) -> tuple[list[dict], int]:
    """The live ratings: of a named rater's ratings of one (system, id, sample), the last line; and how many were
    dropped. Ratings without a rater are all kept (nothing says two of them are one person's).

    Raises:
        `ValueError`: one rater's ratings of the same (system, id, sample) in two files (which counts is unknowable).
    """
    latest: dict = {}  # (file, rater, system, id, sample) -> the index of its last line
    for i, row in enumerate(rows):
        if row["rater"] is not None:
            latest[(row["file"], row["rater"], row["system"], row["id"], row["sample"])] = i
    kept = set(latest.values())
    seen: dict = {}
    for i in sorted(kept):  # each file's last word; the same one in another file is a conflict, not a re-rating
        row = rows[i]
        key = (row["rater"], row["system"], row["id"], row["sample"])
        if key in seen:
            before = rows[seen[key]]
            sample = "" if row["sample"] is None else f" sample {row['sample']}"
            raise ValueError(f"rater {row['rater']!r} rated {row['id']}{sample}"
                             + (f" ({row['system']})" if row["system"] else "")
                             + f" in two files, {before['file']} (line {before['line']}) and {row['file']} (line "
                               f"{row['line']}): which one counts is unknown; keep each rater's ratings in one file.")
        seen[key] = i
    live = [row for i, row in enumerate(rows) if row["rater"] is None or i in kept]
    return live, len(rows) - len(live)


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)
