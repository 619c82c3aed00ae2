"""Export: the work folder's surviving clips as a dataset folder (paper Part 1, last stage).

```
parass2s build export --in work/emo --out data/emo [--push_to_hub user/name]
```

Layouts of `out/` (every mode also gets `README.md`, the dataset card, and `parquet/<split>-00000-of-0000N.parquet`
shards with the audio bytes embedded, which the card's `configs` point at):

- `benchmark`: the `data_dir` layout (docs/architecture.md), read by the ParaS2SBench builder
  (`load_dataset("parass2sbench", "emotion", data_dir="data/emo")`)::

      metadata.jsonl                       one line per clip: the benchmark row's fields + file_name
      audio/<split>/<clip id>.flac
      audio/<split>/metadata.jsonl         the same rows, file_name relative to the split folder, so that
                                           load_dataset("audiofolder", data_dir="data/emo") reads them too

  A pair that lost one of its two styles in an earlier stage is dropped whole (the builder needs both).
- `polytone`: an audiofolder (`load_dataset("audiofolder", data_dir="data/pt")`, splits `train` and `test`)::

      <split>/metadata.jsonl               file_name, id, record_id, split, dimension, topic, style, text, voice, source
      <split>/<clip id>.flac

- `sft`: an audiofolder with two audio columns, `audio` (the query) and `reply` (the reference reply spoken in its
  style), and `target` = `[style: <reply style>] <reply text>`::

      <split>/metadata.jsonl               file_name, reply_file_name, id, record_id, ..., target, reply_style, ...
      <split>/<clip id>.flac, <split>/<clip id>-reply.flac

Records a listener rejected (`human_check/`, see `human_check`) are dropped whole (every clip of the record), counted
as `rejected by a listener: <reason>`; the export summary's `human_check` says how many records people checked and
rejected, with a fingerprint of the decision files. The decisions are an input, like the stage files, not a setting:
rerunning export after new decisions applies them without `--overwrite`.

Export is a pure function of the stage files (and the decisions): a rerun rebuilds `out/` in a temporary folder beside
it and renames it into place, so a crash never leaves half an export. `out/.parass2s_export.json` marks the folder as
this work folder's export; an `out` that is neither empty nor such an export is refused unless `overwrite`. Train and
test must share no topic and no voice, or the export is refused naming them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from ..bench.features import ROW_FIELDS
from ..constants import REPLY_STYLES
from ..io import resolve_inside, write_json
from ..render.reply_format import format_reply
from .human_check import REJECTED_DROP_REASON, load_human_check
from .workdir import MODES, StageSummary, WorkDir

logger = logging.getLogger(__name__)

MARKER_FILE = ".parass2s_export.json"
METADATA_FILE = "metadata.jsonl"
SHARD_DIR = "parquet"
"""Where the Parquet shards go. Not `data/`: `datasets` resolves a folder holding `data/<split>-00000-of-0000N.*`
to those shards before anything else, which would hide the audio files from `load_dataset("audiofolder", ...)`."""
AUDIO_DIR = "audio"
BENCHMARK_COLUMNS = ("file_name", *(f for f in ROW_FIELDS if f != "audio"))
POLYTONE_COLUMNS = ("id", "record_id", "split", "dimension", "topic", "style", "text", "voice", "source")
SFT_COLUMNS = POLYTONE_COLUMNS + ("scenario", "requirement", "target", "reply_style", "reply_text", "reply_voice")


@dataclass
class ExportConfig:
    """Settings of the export stage.

    Args:
        out (`str`): the dataset folder to write (replaced as a whole on a rerun).
        push_to_hub (`str`, *optional*): a Hub dataset repository (`user/name`) to upload the folder to.
        parquet (`bool`, *optional*, defaults to `True`): also write Parquet shards with the audio embedded (what the
            card's `configs` point at, for the Hub's viewer and `load_dataset("user/name")`).
        max_shard_rows (`int`, *optional*, defaults to `500`): rows per Parquet shard.
        private (`bool`, *optional*, defaults to `False`): create the Hub repository private.
        allow_voice_overlap (`bool`, *optional*, defaults to `False`): export even when train and test share voices
            (a warning and a note in the card instead of an error), for renderers whose voices the render stage
            could not split (one voice per style, or no voice list). Shared topics are always refused.
    """

    out: str = field(metadata={"help": "The dataset folder to write (replaced as a whole on a rerun)."})
    push_to_hub: str | None = field(default=None, metadata={"help": "Hub dataset repository (user/name) to upload to."})
    parquet: bool = field(default=True, metadata={"help": "Also write Parquet shards with the audio bytes embedded."})
    max_shard_rows: int = field(default=500, metadata={"help": "Rows per Parquet shard."})
    private: bool = field(default=False, metadata={"help": "Create the Hub repository private."})
    allow_voice_overlap: bool = field(default=False, metadata={
        "help": "Export even when train and test share voices (warned and noted in the card); topics never."})

    def __post_init__(self):
        if not isinstance(self.out, (str, os.PathLike)) or not os.fspath(self.out).strip():
            raise ValueError(f"out={self.out!r}; expected the path of the dataset folder to write.")
        self.out = os.fspath(self.out)
        if self.push_to_hub is not None and (not isinstance(self.push_to_hub, str) or not self.push_to_hub.strip()
                                             or any(c.isspace() for c in self.push_to_hub)
                                             or self.push_to_hub.count("/") > 1):
            raise ValueError(f"push_to_hub={self.push_to_hub!r}; expected a Hub repository id such as 'user/name' "
                             f"(or None not to upload).")
        if isinstance(self.max_shard_rows, bool) or not isinstance(self.max_shard_rows, int) or self.max_shard_rows < 1:
            raise ValueError(f"max_shard_rows={self.max_shard_rows!r}; expected a positive integer.")


# ---------------------------------------------------------------------------------------------------------------------
# planning: which clips go out, which are dropped and why


@dataclass
class _Plan:
    rows: list[dict]
    """Metadata rows in output order (with `file_name`, and `reply_file_name` in sft mode)."""
    copies: list[tuple[str, str, str]]
    """(clip id, source path inside the work folder, path relative to out/)."""
    seconds: list[float]
    """Audio seconds per row (query + reply in sft mode)."""
    summary: StageSummary
    human_check: dict | None = None
    """What people checked (`HumanCheck.summary`), or None when no one has."""


def _clip_state(clip_id: str, rendered: dict, verified: dict) -> str | None:
    """None when the clip survived render and verify, else why not (`render failed`, `not verified`, ...)."""
    line = rendered.get(clip_id)
    if line is None:
        return "not rendered"
    if line.get("status") != "ok":
        return "render failed"
    check = verified.get(clip_id)
    if check is None:
        return "not verified"
    if check.get("status") != "passed":
        return "verify failed"
    return None


class _Planner:
    """What a mode's planner shares: the stage files read, the clips that passed render and verify (per record too),
    the records listeners rejected, and the plan being built (rows, copies, seconds, the summary, the clips accounted
    for). `_plan` drops a rejected record's clips, runs one mode's rows function per other kept record, then accounts
    for every clip left over."""

    def __init__(self, work: WorkDir):
        self.work = work
        self.generated = {r["id"]: r for r in work.require("generate")}
        self.filtered = {r["id"]: r for r in work.require("filter")}
        self.rendered = {r["id"]: r for r in work.require("render")}
        self.verified = {r["id"]: r for r in work.require("verify")}
        self.passed = {cid: line for cid, line in self.rendered.items() if self.state(cid) is None}
        self.summary = StageSummary("export", items_in=len(self.passed))
        self.records = {rid: r for rid, r in self.generated.items()
                        if r.get("status") == "ok" and self.filtered.get(rid, {}).get("status") == "kept"}
        self.by_record: dict[str, list[str]] = defaultdict(list)
        for cid, line in self.passed.items():
            self.by_record[line.get("record_id")].append(cid)
        check = load_human_check(work)
        self.rejected = {rid: why for rid, why in check.rejected().items() if rid in self.records} if check else {}
        self.human_check = check.summary(self.records) if check else None
        self.accounted: set[str] = set()
        self.rows: list[dict] = []
        self.copies: list[tuple[str, str, str]] = []
        self.seconds: list[float] = []

    def state(self, clip_id: str) -> str | None:
        return _clip_state(clip_id, self.rendered, self.verified)

    def drop(self, clip_id: str, reason: str) -> None:
        self.summary.dropped[reason] += 1
        self.accounted.add(clip_id)

    def drop_passed(self, clip_ids, reason: str) -> None:
        """Drop those of `clip_ids` that passed render and verify (the others were counted by their stage)."""
        for cid in clip_ids:
            if cid in self.passed:
                self.drop(cid, reason)

    def source(self, clip_id: str) -> str:
        line = self.rendered[clip_id]
        path = self.work.clip_path(line)  # never a file from outside the work folder (it would be exported, uploaded)
        if not os.path.isfile(path):
            raise ValueError(f"{self.work.path}: the audio of clip {clip_id!r} ({line['file_name']}) is missing; rerun "
                             f"`parass2s build render` on this folder (it renders clips whose file is missing again), "
                             f"then `parass2s build verify`.")
        return path

    @staticmethod
    def out_name(folder: str, clip_id: str, path: str) -> str:
        return f"{folder}/{clip_id}{os.path.splitext(path)[1] or '.flac'}"

    def duration(self, clip_id: str) -> float:
        return float(self.rendered[clip_id].get("seconds") or 0.0)

    def add(self, row: dict, clips: list[tuple[str, str, str]]) -> None:
        """One output row; `clips` are (clip id, source path, path in out/)."""
        self.rows.append(row)
        self.copies.extend(clips)
        self.seconds.append(sum(self.duration(cid) for cid, _, _ in clips))
        self.accounted.update(cid for cid, _, _ in clips)
        self.summary.items_out += len(clips)

    def account_for_the_rest(self, mode: str) -> None:
        """Every passed clip no row took is dropped with its reason: nothing disappears unaccounted."""
        for cid, line in self.passed.items():
            if cid in self.accounted:
                continue
            rid = line.get("record_id")
            if rid not in self.generated or self.generated[rid].get("status") != "ok":
                self.drop(cid, "record not in the generate output")
            elif self.filtered.get(rid, {}).get("status") != "kept":
                self.drop(cid, "record not kept by the filter")
            else:
                self.drop(cid, f"unexpected clip id for {mode} mode")


def _benchmark_rows(planner: _Planner, rid: str, record: dict, common: dict) -> None:
    """`benchmark`: the record's two styled clips, both or neither (a pair is the unit of the benchmark)."""
    ids = {style: f"{rid}-{style}" for style in record["styles"]}
    if len(ids) != 2:
        planner.drop_passed(ids.values(), f"record has {len(ids)} styles, a benchmark pair needs 2")
        return
    missing = [f"{style} {why}" for style, cid in ids.items() if (why := planner.state(cid))]
    if missing:
        planner.drop_passed(ids.values(), "pair incomplete: " + ", ".join(missing))
        return
    for style, cid in ids.items():
        line, per_style = planner.rendered[cid], record.get("per_style", {}).get(style, {})
        path = planner.source(cid)
        name = planner.out_name(f"{AUDIO_DIR}/{common['split']}", cid, path)
        row = {**common, "file_name": name, "id": cid, "pair_id": rid, "style": style,
               "voice": line.get("voice") or "", "source": line.get("renderer") or "",
               "requirement": per_style.get("requirement", ""),
               "reference_reply": per_style.get("reference_reply", ""),
               "reference_reply_style": per_style.get("reference_reply_style", "")}
        planner.add({k: row[k] for k in BENCHMARK_COLUMNS}, [(cid, path, name)])


def _polytone_rows(planner: _Planner, rid: str, record: dict, common: dict) -> None:
    """`polytone`: every passed clip of the record (several voices per style), in the record's style order."""
    styles = list(record["styles"])
    split = common["split"]
    passed = planner.passed
    mine = planner.by_record[rid]
    for cid in sorted(mine, key=lambda c: (styles.index(passed[c]["style"]) if passed[c].get("style") in styles
                                           else len(styles), c)):
        line = passed[cid]
        if line.get("style") not in styles:
            planner.drop(cid, f"style {line.get('style')!r} not among the record's styles")
            continue
        path = planner.source(cid)
        name = planner.out_name(split, cid, path)
        row = {**common, "file_name": name[len(split) + 1:], "id": cid, "record_id": rid, "style": line["style"],
               "voice": line.get("voice") or "", "source": line.get("renderer") or ""}
        planner.add({k: row[k] for k in ("file_name", *POLYTONE_COLUMNS)}, [(cid, path, name)])


def _sft_rows(planner: _Planner, rid: str, record: dict, common: dict) -> None:
    """`sft`: one row per query style, the query clip with its reply clip (both or neither)."""
    split = common["split"]
    for style in record["styles"]:
        qid, reply_id = f"{rid}-{style}", f"{rid}-{style}-reply"
        states = {"query": planner.state(qid), "reply": planner.state(reply_id)}
        missing = [f"{style} {kind} {why}" for kind, why in states.items() if why]
        per_style = record.get("per_style", {}).get(style, {})
        reply_style = per_style.get("reference_reply_style", "")
        if not missing and reply_style not in REPLY_STYLES:
            missing = [f"{style} reply style {reply_style!r} not in the reply vocabulary"]
        if missing:
            planner.drop_passed((qid, reply_id), "pair incomplete: " + ", ".join(missing))
            continue
        query, reply = planner.rendered[qid], planner.rendered[reply_id]
        reply_text = per_style.get("reference_reply", "")
        qpath, rpath = planner.source(qid), planner.source(reply_id)
        qname, rname = planner.out_name(split, qid, qpath), planner.out_name(split, reply_id, rpath)
        row = {**common, "file_name": qname[len(split) + 1:], "reply_file_name": rname[len(split) + 1:],
               "id": qid, "record_id": rid, "style": style, "voice": query.get("voice") or "",
               "source": query.get("renderer") or "", "requirement": per_style.get("requirement", ""),
               "target": format_reply(reply_style, reply_text), "reply_style": reply_style,
               "reply_text": reply_text, "reply_voice": reply.get("voice") or ""}
        planner.add({k: row[k] for k in ("file_name", "reply_file_name", *SFT_COLUMNS)},
                    [(qid, qpath, qname), (reply_id, rpath, rname)])


_MODE_ROWS = {"benchmark": _benchmark_rows, "polytone": _polytone_rows, "sft": _sft_rows}
"""The rows of one kept record, per mode."""


def _plan(work: WorkDir, mode: str) -> _Plan:
    planner, rows_of = _Planner(work), _MODE_ROWS[mode]
    records = planner.records
    for rid in sorted(records, key=lambda r: (records[r]["split"], r)):
        record = records[rid]
        if rid in planner.rejected:  # a listener's no drops the whole record, whatever its clips' state
            planner.drop_passed(planner.by_record[rid], REJECTED_DROP_REASON.format(reason=planner.rejected[rid]))
            continue
        common = {"id": None, "split": record["split"], "dimension": record["dimension"],
                  "topic": record.get("topic", ""), "text": record["text"], "scenario": record.get("scenario", "")}
        rows_of(planner, rid, record, common)
    planner.account_for_the_rest(mode)
    if planner.human_check is not None:
        planner.summary.extra["human_check"] = planner.human_check
    return _Plan(planner.rows, planner.copies, planner.seconds, planner.summary, planner.human_check)


def shared_between_splits(rows: list[dict]) -> tuple[list[str], list[str]]:
    """The topics and the voices (reply voices included) that train and test share."""
    topics, voices = defaultdict(set), defaultdict(set)
    for row in rows:
        if row.get("topic"):
            topics[row["split"]].add(row["topic"])
        for key in ("voice", "reply_voice"):
            if row.get(key):
                voices[row["split"]].add(row[key])
    return sorted(topics["train"] & topics["test"]), sorted(voices["train"] & voices["test"])


def check_split_disjoint(rows: list[dict], allow_voice_overlap: bool = False) -> None:
    """Train and test must share no topic and no voice (reply voices included).

    Args:
        rows (`list[dict]`): rows with `split`, `topic`, `voice` (and `reply_voice`).
        allow_voice_overlap (`bool`, *optional*, defaults to `False`): only warn about shared voices.

    Raises:
        `ValueError`: naming the shared topics and voices.
    """
    shared_topics, shared_voices = shared_between_splits(rows)
    if shared_voices and allow_voice_overlap:
        logger.warning("train and test share the voices %s (allow_voice_overlap): a model trained on train will be "
                       "tested on voices it heard.", shared_voices)
        shared_voices = []
    if shared_topics or shared_voices:
        parts = []
        if shared_topics:
            parts.append(f"topics {shared_topics}")
        if shared_voices:
            parts.append(f"voices {shared_voices}")
        raise ValueError(f"train and test share {' and '.join(parts)}: the splits must be topic- and voice-disjoint. "
                         f"Assign each topic to one split at generate time and render the splits with separate voice "
                         f"pools (or drop the overlapping records); allow_voice_overlap accepts shared voices.")


# ---------------------------------------------------------------------------------------------------------------------
# writing


def export_features(mode: str):
    """The `datasets.Features` of an export's rows (`audio` and, in sft mode, `reply` are `Audio` columns)."""
    import datasets

    from ..bench.features import FEATURES
    from ..constants import SAMPLING_RATE

    if mode == "benchmark":
        return FEATURES
    audio = datasets.Audio(sampling_rate=SAMPLING_RATE)
    columns = {"audio": audio}
    if mode == "sft":
        columns["reply"] = audio
    for name in POLYTONE_COLUMNS if mode == "polytone" else SFT_COLUMNS:
        columns[name] = datasets.Value("string")
    return datasets.Features(columns)


def shard_files(n_rows: int, split: str, max_shard_rows: int) -> list[str]:
    """Shard paths relative to out/: `parquet/<split>-00000-of-0000N.parquet`."""
    n = max(1, math.ceil(n_rows / max_shard_rows))
    return [f"{SHARD_DIR}/{split}-{k:05d}-of-{n:05d}.parquet" for k in range(n)]


def _write_parquet(tmp: str, mode: str, rows: list[dict], max_shard_rows: int) -> dict[str, list[str]]:
    """Write the shards with the audio bytes embedded (read from the copied files)."""
    import datasets

    features = export_features(mode)
    shards = {}
    for split in ("test", "train"):
        split_rows = [r for r in rows if r["split"] == split]
        if not split_rows:
            continue
        names = shard_files(len(split_rows), split, max_shard_rows)
        shards[split] = names
        for k, name in enumerate(names):
            batch = []
            for row in split_rows[k * max_shard_rows:(k + 1) * max_shard_rows]:
                item = {c: v for c, v in row.items() if not c.endswith("file_name")}
                for column, key in (("audio", "file_name"), ("reply", "reply_file_name")):
                    if key in row:
                        path = os.path.join(tmp if mode == "benchmark" else os.path.join(tmp, split), row[key])
                        with open(path, "rb") as f:
                            item[column] = {"bytes": f.read(), "path": os.path.basename(row[key])}
                batch.append({c: item[c] for c in features})
            os.makedirs(os.path.join(tmp, SHARD_DIR), exist_ok=True)
            datasets.Dataset.from_list(batch, features=features).to_parquet(os.path.join(tmp, name))
    return shards


def _write_metadata(path: str, rows: list[dict]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _check_out(out: str, work: WorkDir, overwrite: bool) -> None:
    work_path = os.path.realpath(work.path)
    real_out = os.path.realpath(out)
    if real_out == work_path or os.path.commonpath([real_out, work_path]) == real_out:
        raise ValueError(f"out={out!r} is the work folder or holds it; export to another folder.")
    if not os.path.lexists(out):
        return
    if os.path.isdir(out) and not os.listdir(out):
        return
    marker = os.path.join(out, MARKER_FILE)
    owner = None
    if os.path.isfile(marker):
        try:
            with open(marker, encoding="utf-8") as f:
                owner = json.load(f).get("work_dir")
        except (OSError, ValueError, AttributeError):
            owner = None
    if owner == work.path or overwrite:
        return
    what = f"the export of another work folder ({owner})" if owner else "not an export of this work folder"
    raise ValueError(f"out={out!r} is not empty and is {what}; choose another folder, or pass overwrite "
                     f"(--overwrite) to replace it.")


def _replace(tmp: str, out: str) -> None:
    """Swap the finished temporary folder into place (the old export is removed only after)."""
    old = _sibling(out, "export-old")
    if os.path.lexists(out):
        if os.path.isdir(out) and not os.path.islink(out):
            os.replace(out, old)
        else:
            os.remove(out)
    os.replace(tmp, out)
    if os.path.exists(old):
        shutil.rmtree(old)


def _sibling(out: str, tag: str) -> str:
    out = os.path.abspath(out)
    return os.path.join(os.path.dirname(out), f".{os.path.basename(out)}.{tag}")


def push_export(out: str, repo_id: str, *, private: bool = False, api=None) -> str:
    """Upload an export folder to a Hub dataset repository (created when missing); returns the repository URL.

    The marker file, which names a local path, is not uploaded.
    """
    if api is None:
        import huggingface_hub

        api = huggingface_hub.HfApi()
    url = api.create_repo(repo_id, repo_type="dataset", exist_ok=True, private=private)
    api.upload_folder(folder_path=out, repo_id=repo_id, repo_type="dataset", ignore_patterns=[MARKER_FILE],
                      commit_message="Upload a ParaS2S export (parass2s build export)")
    return str(url)


def run_export(work: WorkDir, config: ExportConfig, api=None, *, overwrite: bool = False,
               repair: bool = False) -> dict:
    """Export the clips that survived every stage to `config.out` (layouts: see the module docstring).

    Args:
        work (`WorkDir`): the work folder (generate, filter, render and verify must have run).
        config (`ExportConfig`): where to write, Parquet, Hub upload.
        api (`huggingface_hub.HfApi`, *optional*): the Hub client for `push_to_hub` (a new `HfApi()` by default).
        overwrite (`bool`, *optional*, defaults to `False`): export with settings other than the last export's, and
            replace an `out` folder that is not this work folder's export. New listener decisions are not other
            settings: a plain rerun applies them.
        repair (`bool`, *optional*, defaults to `False`): move the damaged lines of the stage files (not JSON, or a
            record without the fields the stages need) to `<file>.rejected` and export the rest, instead of refusing
            them (see `WorkDir`); rerunning the stages before export redoes those items.

    Returns:
        `dict`: the export's run summary: in (clips that passed verify), out (clips exported), dropped by reason
        (a rejected record's clips as `rejected by a listener: <reason>`), and, when listeners decided anything,
        `human_check` (raters, records checked and rejected, by reason, and the decision files' fingerprint).

    Raises:
        `ValueError`: a stage not run yet, a damaged stage file line (without `repair`), a clip whose `file_name` leads
            outside the work folder (named with its stage file and clip id: nothing from elsewhere is copied or
            uploaded), an `out` that is not an export of this work folder (without `overwrite`), train and test sharing
            a topic or a voice (named), a damaged listener decision line (named), or nothing left to export.

    Example:
    ```python
    >>> import parass2s_hf
    >>> from parass2s_hf.construct import WorkDir
    >>> from parass2s_hf.construct.export import ExportConfig, run_export
    >>> run_export(WorkDir("work/emo"), ExportConfig(out="data/emo"))
    >>> parass2s_hf.load_parass2sbench("emotion", split="test", data_dir="data/emo")
    ```
    """
    from .card import export_card

    work = work.repairing(repair)
    out = os.path.abspath(config.out)
    _check_out(out, work, overwrite)  # before the settings check, so a foreign `out` is named first
    work.begin("export", asdict(config), overwrite=overwrite)
    mode = work.mode()
    if mode not in MODES:
        raise ValueError(f"{work.path}: mode {mode!r} in build.json; expected one of {list(MODES)}.")
    plan = _plan(work, mode)
    summary = plan.summary
    summary.check()
    if not plan.rows:
        raise ValueError(f"{work.path}: nothing to export: {summary.items_in} clip(s) passed verify, dropped: "
                         f"{dict(summary.dropped) or 'none'}.")
    check_split_disjoint(plan.rows, config.allow_voice_overlap)
    if mode == "benchmark":
        for dim in sorted({r["dimension"] for r in plan.rows}):
            if not any(r["dimension"] == dim and r["split"] == "test" for r in plan.rows):
                logger.warning("%s: no %s pair has a test split: load_parass2sbench(%r, split='test') will fail "
                               "(only 'train' exists).", out, dim, dim)

    tmp = _sibling(out, "export-tmp")
    for leftover in (tmp, _sibling(out, "export-old")):  # from an export killed mid-way
        if os.path.exists(leftover):
            shutil.rmtree(leftover)
    os.makedirs(tmp)
    try:
        for clip_id, src, name in plan.copies:  # the name comes from ids in the stage files: it must stay in out/
            dst = resolve_inside(tmp, name, what=f"{work.file('render')}: clip {clip_id!r}: exported file name")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
        if mode == "benchmark":
            _write_metadata(os.path.join(tmp, METADATA_FILE), plan.rows)
        for split in ("test", "train"):
            split_rows = [r for r in plan.rows if r["split"] == split]
            if split_rows and mode == "benchmark":  # the same rows, for load_dataset("audiofolder")
                prefix = f"{AUDIO_DIR}/{split}/"
                split_rows = [{**r, "file_name": r["file_name"][len(prefix):]} for r in split_rows]
                _write_metadata(os.path.join(tmp, AUDIO_DIR, split, METADATA_FILE), split_rows)
            elif split_rows:
                _write_metadata(os.path.join(tmp, split, METADATA_FILE), split_rows)
        shards = _write_parquet(tmp, mode, plan.rows, config.max_shard_rows) if config.parquet else {}
        settings = {stage: work.settings(stage) for stage in ("generate", "filter", "render", "verify")}
        card_rows = [{**row, "seconds": s} for row, s in zip(plan.rows, plan.seconds)]
        runs = {**work.summary(), "export": summary.to_dict()}
        card = export_card(card_rows, mode, runs, settings, shards=shards, features=export_features(mode))
        with open(os.path.join(tmp, "README.md"), "w", encoding="utf-8") as f:
            f.write(card)
        write_json(os.path.join(tmp, MARKER_FILE),
                   {"work_dir": work.path, "mode": mode, "rows": len(plan.rows), "settings": asdict(config),
                    **({"human_check": plan.human_check} if plan.human_check else {})})
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result = work.record_summary(summary)
    logger.info("exported %d rows (%d clips) to %s", len(plan.rows), summary.items_out, out)
    if config.push_to_hub:
        url = push_export(out, config.push_to_hub, private=config.private, api=api)
        logger.info("uploaded %s to %s", out, url)
    return result


__all__ = ["ExportConfig", "check_split_disjoint", "export_features", "push_export", "run_export", "shard_files",
           "shared_between_splits"]
