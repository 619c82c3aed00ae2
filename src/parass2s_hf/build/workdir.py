"""The work folder of a build: one JSONL file per stage, the settings each stage ran with, and the run summary.

```
work/emo/
  build.json          what each stage ran with (a stage rerun with other settings is refused unless overwrite)
  generated.jsonl     generate: candidate records (text-layer format), kept or dropped with a reason
  filtered.jsonl      filter: the three LLM verdicts per record, kept or dropped
  rendered.jsonl      render: one line per rendered clip (audio under audio/), ok or failed
  verified.jsonl      verify: WER (and style agreement) per clip, passed or failed
  summary.json        per stage: items in, out, dropped by reason
```
Every stage reads the previous stage's file and appends one line per finished item to its own (flushed and fsynced,
see `parass2s_hf.evaluation.store`), so a rerun skips what is done, and an interrupted stage resumes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field

from ..evaluation.store import JsonlLog, write_json

logger = logging.getLogger(__name__)

STAGES = ("generate", "filter", "render", "verify", "export")
STAGE_FILES = {"generate": "generated.jsonl", "filter": "filtered.jsonl", "render": "rendered.jsonl",
               "verify": "verified.jsonl"}
STAGE_DIRS = {"render": "audio"}
MODES = ("benchmark", "polytone", "sft")
"""`benchmark`: pairs of contrasting styles (the builder's input). `polytone`: the same text in every style of a
dimension, several voices (the style analyzers' training data). `sft`: a query in each style plus its reference reply
rendered in the reply's style (warm-up demonstrations)."""


@dataclass
class StageSummary:
    """What one stage did: items in, items out, items dropped by reason (nothing disappears unaccounted)."""

    stage: str
    items_in: int = 0
    items_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    skipped_done: int = 0
    """Items finished by an earlier run of the stage (not redone)."""

    def to_dict(self) -> dict:
        return {"stage": self.stage, "in": self.items_in, "out": self.items_out, "dropped": dict(self.dropped),
                "dropped_total": sum(self.dropped.values()), "already_done": self.skipped_done}

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


class WorkDir:
    """A build's work folder.

    Args:
        path (`str`): the folder (created when missing).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.path.abspath(os.fspath(path))
        os.makedirs(self.path, exist_ok=True)

    # ---- files ----
    def file(self, stage: str) -> str:
        return os.path.join(self.path, STAGE_FILES[stage])

    def log(self, stage: str) -> JsonlLog:
        return JsonlLog(self.file(stage))

    def read(self, stage: str) -> list[dict]:
        """A stage's lines (last line per id wins, in first-seen order)."""
        by_id = {}
        for line in self.log(stage):
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

    # ---- settings ----
    def _state(self) -> dict:
        path = os.path.join(self.path, "build.json")
        if not os.path.exists(path):
            return {"stages": {}}
        with open(path, encoding="utf-8") as f:
            return json.load(f)

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
        """Delete the output and settings of `stage` and every later stage."""
        later = STAGES[STAGES.index(stage):]
        state = self._state()
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
        return settings["mode"]

    # ---- summary ----
    def record_summary(self, summary: StageSummary) -> dict:
        summary.check()
        path = os.path.join(self.path, "summary.json")
        data = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        data[summary.stage] = summary.to_dict()
        write_json(path, {k: data[k] for k in STAGES if k in data})
        return data[summary.stage]

    def summary(self) -> dict:
        path = os.path.join(self.path, "summary.json")
        if not os.path.exists(path):
            return {}
        with open(path, encoding="utf-8") as f:
            return json.load(f)
