"""The work folder of a build: one JSONL file per stage, the settings each stage ran with, and the run summary.

```
work/emo/
  build.json          what each stage ran with (a stage rerun with other settings is refused unless overwrite)
  generated.jsonl     generate: candidate records (text-layer format), kept or dropped with a reason
  filtered.jsonl      filter: the three LLM verdicts per record, kept or dropped
  rendered.jsonl      render: one line per rendered clip (audio under audio/), ok or failed
  verified.jsonl      verify: WER (and style agreement) per clip, passed or failed
  summary.json        per stage: items in, out, dropped by reason
  human_check/        listeners' decisions, one <rater>.jsonl each (see `human_check`); export drops rejected records
```
Every stage reads the previous stage's file and appends one line per finished item to its own (flushed and fsynced,
see `parass2s_hf.io.JsonlLog`), so a rerun skips what is done, and an interrupted stage resumes.

A damaged line of a stage file, one that is not JSON or a record without the fields the later stages need
(`LINE_FIELDS`, e.g. a kept record without `text`, a rendered clip whose `file_name` leads outside the work folder),
is an error naming the file, the line and the record, unless the folder is opened with `repair=True` (`--repair`):
the damaged lines then move to `<file>.rejected`, the rest is kept, and rerunning their stage redoes their items.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field

from ..io import REPAIR_ADVICE, JsonlLog, read_json, resolve_inside, write_atomic, write_json

logger = logging.getLogger(__name__)

STAGES = ("generate", "filter", "render", "verify", "export")
STAGE_FILES = {"generate": "generated.jsonl", "filter": "filtered.jsonl", "render": "rendered.jsonl",
               "verify": "verified.jsonl"}
STAGE_DIRS = {"render": "audio"}
HUMAN_CHECK_DIR = "human_check"
"""Listeners' decisions on the rendered records (`human_check.py`): about the render stage's audio, so redoing render
(or an earlier stage) moves the folder aside (`WorkDir.reset_from`)."""
MODES = ("benchmark", "polytone", "sft")
"""`benchmark`: pairs of contrasting styles (the builder's input). `polytone`: the same text in every style of a
dimension, several voices (the style analyzers' training data). `sft`: a query in each style plus its reference reply
rendered in the reply's style (warm-up demonstrations)."""
SPLITS = ("test", "train")
LINE_FIELDS = {
    "generate": ({"id": str, "status": str}, "ok", {"split": str, "dimension": str, "text": str, "styles": list}),
    "filter": ({"id": str, "status": str}, None, {}),
    "render": ({"id": str, "status": str}, "ok", {"record_id": str, "style": str, "file_name": str}),
    "verify": ({"id": str, "status": str}, None, {}),
}
"""Per stage file: (fields every line has, the status of a finished item, the fields such a line has too), each with
its type. What the later stages read with `line[...]`; a line without them is damaged (see `WorkDir.read`)."""


@dataclass
class StageSummary:
    """What one stage did: items in, items out, items dropped by reason (nothing disappears unaccounted)."""

    stage: str
    items_in: int = 0
    items_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    skipped_done: int = 0
    """Items finished by an earlier run of the stage (not redone)."""
    extra: dict = field(default_factory=dict)
    """What else the stage records beside the counts (export: the human check), only when there is something."""

    def to_dict(self) -> dict:
        return {"stage": self.stage, "in": self.items_in, "out": self.items_out, "dropped": dict(self.dropped),
                "dropped_total": sum(self.dropped.values()), "already_done": self.skipped_done, **self.extra}

    def resume(self, items, done: dict, ok_status: str, drop_key) -> list:
        """Count `items` (dicts with an `id`): each is in; one an earlier run finished (`done[id]`) is out when its
        status is `ok_status`, else dropped under `drop_key(line)`. Returns the items still to do."""
        pending = []
        for item in items:
            self.items_in += 1
            line = done.get(item["id"])
            if line is None:
                pending.append(item)
                continue
            self.skipped_done += 1
            if line.get("status") == ok_status:
                self.items_out += 1
            else:
                self.dropped[drop_key(line)] += 1
        return pending

    def check(self) -> None:
        """Every item in is out or dropped with a reason."""
        if self.items_in != self.items_out + sum(self.dropped.values()):
            raise RuntimeError(f"{self.stage}: {self.items_in} in but {self.items_out} out and "
                               f"{sum(self.dropped.values())} dropped: items went unaccounted.")


def line_problem(stage: str, line: dict, root: str) -> str:
    """Why a line of `stage`'s file is damaged (see `LINE_FIELDS`), or `""` when it is fine. `root` is the work
    folder, which a rendered clip's `file_name` must stay inside."""
    always, done_status, when_done = LINE_FIELDS[stage]
    wanted = {**always, **(when_done if done_status is not None and line.get("status") == done_status else {})}
    missing = [k for k, kind in wanted.items()
               if line.get(k) is None or (kind is str and isinstance(line[k], str) and not line[k].strip())]
    problems = [f"missing field(s) {missing}"] if missing else []
    problems += [f"field {k!r} is a {type(line[k]).__name__}, expected a {kind.__name__}" for k, kind in wanted.items()
                 if k not in missing and not isinstance(line[k], kind)]
    if not problems and "split" in wanted and line["split"] not in SPLITS:
        problems.append(f"split {line['split']!r} is not one of {list(SPLITS)}")
    if not problems and "file_name" in wanted:
        try:  # a stage file must not make a later stage read (or export, or upload) a file from elsewhere
            resolve_inside(root, line["file_name"], what="file_name")
        except ValueError as e:
            problems.append(str(e).rstrip("."))
    if not problems:
        return ""
    who = f"record {line['id']!r}" if isinstance(line.get("id"), str) and line["id"].strip() else "a record"
    return f"{who}: " + "; ".join(problems)


class WorkDir:
    """A build's work folder.

    Args:
        path (`str`): the folder (created when missing).
        repair (`bool`, *optional*, defaults to `False`): move the damaged lines of the stage files read through this
            object (not JSON, or a record without the fields the later stages need) to `<file>.rejected`, keeping the
            rest; rerunning their stage then redoes their items. Without it, a damaged line is a `ValueError` naming
            the file, the line and the record, and advising `--repair`.
    """

    def __init__(self, path: str | os.PathLike, repair: bool = False):
        self.path = os.path.abspath(os.fspath(path))
        self.repair = bool(repair)
        os.makedirs(self.path, exist_ok=True)

    def repairing(self, repair: bool = True) -> WorkDir:
        """This folder, opened with `repair` when it is true (a copy: the caller's object is left as it is)."""
        if not repair or self.repair:
            return self
        other = copy.copy(self)
        other.repair = True
        return other

    # ---- files ----
    def file(self, stage: str) -> str:
        return os.path.join(self.path, STAGE_FILES[stage])

    def log(self, stage: str) -> JsonlLog:
        return JsonlLog(self.file(stage), repair=self.repair)

    def read(self, stage: str) -> list[dict]:
        """A stage's lines (last line per id wins, in first-seen order).

        Raises:
            `ValueError`: a damaged line (not JSON, or a record without the fields of `LINE_FIELDS`), naming the file,
                the line and the record, and advising `--repair`; with `repair`, such lines move to
                `<file>.rejected` instead.
        """
        log = self.log(stage)
        lines = list(log)  # lines that are not JSON: JsonlLog's error (advising --repair), or moved with repair
        damaged = [(i, problem) for i, line in enumerate(lines) if (problem := line_problem(stage, line, self.path))]
        if damaged:
            numbers = _record_line_numbers(log.path)
            if not self.repair:
                i, problem = damaged[0]
                more = f" (and {len(damaged) - 1} more damaged line(s))" if len(damaged) > 1 else ""
                raise ValueError(f"{log.path}, line {numbers[i]}: {problem}{more}; "
                                 + REPAIR_ADVICE.format(rejected=log.rejected_path) + ".")
            _reject_lines(log, {numbers[i]: problem for i, problem in damaged}, stage)
            bad = {i for i, _ in damaged}
            lines = [line for i, line in enumerate(lines) if i not in bad]
        by_id = {}
        for line in lines:
            by_id[line["id"]] = line
        return list(by_id.values())

    def require(self, stage: str) -> list[dict]:
        """The lines of a stage a later stage reads; a clear error when that stage has not run here."""
        if not os.path.exists(self.file(stage)):
            raise ValueError(f"{self.path} has no {STAGE_FILES[stage]}: run `parass2s build {stage}` on this folder "
                             f"first.")
        return self.read(stage)

    def audio_dir(self) -> str:
        path = os.path.join(self.path, STAGE_DIRS["render"])
        os.makedirs(path, exist_ok=True)
        return path

    def clip_path(self, line: dict) -> str:
        """The audio file of a rendered clip (a `rendered.jsonl` line), as an absolute path.

        Raises:
            `ValueError`: a `file_name` that is empty or leads outside the work folder (absolute, `..`, a symlink
                pointing out), naming `rendered.jsonl`, the clip and the path.
        """
        return resolve_inside(self.path, line.get("file_name"),
                              what=f"{self.file('render')}: clip {line.get('id')!r}: file_name")

    # ---- settings ----
    def _state(self) -> dict:
        path = os.path.join(self.path, "build.json")
        if not os.path.exists(path):
            return {"stages": {}}
        advice = ("Restore it, or delete it and rerun each stage with the settings it ran with (every stage resumes, "
                  "nothing is redone).")
        try:
            state = read_json(path, "build settings file")
        except ValueError as e:
            raise ValueError(f"{e} {advice}") from None
        stages = state.get("stages") if isinstance(state, dict) else None
        if not isinstance(stages, dict) or not all(isinstance(v, dict) for v in stages.values()):
            raise ValueError(f"{path}: the build settings file is damaged: expected an object "
                             f"{{\"stages\": {{<stage>: <settings>}}}}. {advice}")
        return state

    def settings(self, stage: str) -> dict | None:
        return self._state()["stages"].get(stage)

    def begin(self, stage: str, settings: dict, *, overwrite: bool = False) -> None:
        """Record the settings a stage runs with. A stage already run here with other settings is refused, unless
        `overwrite`: then its output and every later stage's are deleted first.

        Raises:
            `ValueError`: other settings, without `overwrite`.
        """
        settings = json.loads(json.dumps(settings, default=str))  # what JSON keeps, so comparisons are fair
        state = self._state()
        previous = state["stages"].get(stage)
        if previous is not None and previous != settings:
            differ = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            if not overwrite:
                raise ValueError(f"{self.path}: the {stage} stage ran here with other settings ({', '.join(differ)} "
                                 f"differ). Use another folder, or --overwrite to redo {stage} and the stages after it.")
            self.reset_from(stage)
            state = self._state()
        state["stages"][stage] = settings
        write_json(os.path.join(self.path, "build.json"), state)

    def reset_from(self, stage: str) -> None:
        """Delete the output and settings of `stage` and every later stage. When render is among them, the listeners'
        decisions (`human_check/`, about the audio being deleted) move aside to `human_check.superseded-<UTC time>/`:
        kept for reference, but no longer applied to the new clips."""
        later = STAGES[STAGES.index(stage):]
        state = self._state()
        checks = os.path.join(self.path, HUMAN_CHECK_DIR)
        if "render" in later and os.path.isdir(checks):
            when = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
            os.replace(checks, f"{checks}.superseded-{when}")
            logger.warning("%s: the listeners' decisions were about the audio that %s redoes: moved %s to %s",
                           self.path, stage, checks, f"{checks}.superseded-{when}")
        for name in later:
            if name in STAGE_FILES and os.path.exists(self.file(name)):
                os.remove(self.file(name))
            if name in STAGE_DIRS and os.path.isdir(os.path.join(self.path, STAGE_DIRS[name])):
                shutil.rmtree(os.path.join(self.path, STAGE_DIRS[name]))
            state["stages"].pop(name, None)
        write_json(os.path.join(self.path, "build.json"), state)
        logger.warning("%s: removed the output of %s", self.path, ", ".join(later))

    def mode(self) -> str:
        """The build's mode, set by its generate stage (or by `import_records`)."""
        settings = self.settings("generate")
        if not settings:
            raise ValueError(f"{self.path} has no generate settings: run `parass2s build generate` first.")
        mode = settings.get("mode")
        if mode not in MODES:
            raise ValueError(f"{os.path.join(self.path, 'build.json')}: the generate settings have mode {mode!r}, not "
                             f"one of {list(MODES)}; the file is damaged. Restore it, or rerun `parass2s build "
                             f"generate` on this folder with the settings it ran with (it resumes).")
        return mode

    # ---- summary ----
    def record_summary(self, summary: StageSummary) -> dict:
        summary.check()
        path = os.path.join(self.path, "summary.json")
        data = self.summary()
        data[summary.stage] = summary.to_dict()
        write_json(path, {k: data[k] for k in STAGES if k in data})
        return data[summary.stage]

    def summary(self) -> dict:
        """The run summary (`summary.json`): per stage, items in, out and dropped by reason."""
        path = os.path.join(self.path, "summary.json")
        if not os.path.exists(path):
            return {}
        advice = "Delete it and rerun the stages: each resumes (nothing is redone) and writes its part again."
        try:
            data = read_json(path, "run summary")
        except ValueError as e:
            raise ValueError(f"{e} {advice}") from None
        if not isinstance(data, dict):  # a damaged file is bad input (ValueError), reported as one line
            raise ValueError(  # noqa: TRY004
                f"{path}: the run summary is damaged: expected an object of stages, got a JSON {type(data).__name__}. "
                f"{advice}")
        return data


def _record_line_numbers(path: str) -> list[int]:
    """The line number of each record of a JSONL file (its non-blank lines, as `JsonlLog` reads them)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return [number for number, line in enumerate(f, 1) if line.strip()]


def _reject_lines(log: JsonlLog, problems: dict[int, str], stage: str) -> None:
    """Move the lines `problems` names (line number -> why) to the log's `.rejected` file, as `JsonlLog` does with
    lines that are not JSON (first the copy, then the rewrite: a crash in between leaves the line in both, and its
    item is redone)."""
    with open(log.path, encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    with open(log.rejected_path, "a", encoding="utf-8") as f:
        f.writelines(json.dumps({"line": number, "text": lines[number - 1].rstrip("\n"), "problem": problem},
                                ensure_ascii=False) + "\n" for number, problem in sorted(problems.items()))
    write_atomic(log.path, "".join(line for n, line in enumerate(lines, 1) if n not in problems).encode())
    logger.warning("%s: moved %d damaged line(s) to %s (%s); rerunning `parass2s build %s` on this folder redoes "
                   "their items", log.path, len(problems), log.rejected_path, "; ".join(problems.values()), stage)
