"""People in the loop: listeners' decisions on the rendered records of a work folder, and what export does with them.

A listener (the listening page, `parass2s_hf.listen`) hears each record's clips, one per intended style, reads its
text, and accepts the record or rejects it with a reason from `REJECT_REASONS`. Each decision is one line of the
rater's own file, appended at once (flushed and fsynced, `parass2s_hf.io.JsonlLog`)::

    work/emo/
      human_check/<rater>.jsonl     {"record_id", "decision": "accept"|"reject", "reason", "comment", "rater", "time"}

A rater's latest line on a record is their decision (accept, then reject: rejected); `undo_last` removes their last
line. A record is rejected when any rater's decision on it is reject. `parass2s build export` drops every clip of a
rejected record (the whole pair; every row of the record in polytone and sft mode), counted in the export summary as
`rejected by a listener: <reason>`, and records in the summary (and the card) how many records people checked and
rejected, with a fingerprint of the decision files.

Decisions are an input of export like the stage files, not a setting: export rebuilds its folder from scratch on every
run, so rerunning it after new decisions applies them, with no `--overwrite` (which is only for other export
settings). Redoing the render stage (or an earlier one) with `--overwrite` replaces the audio the decisions were
about: `WorkDir.reset_from` then moves `human_check/` aside to `human_check.superseded-<time>/`.

Example:

```python
>>> from parass2s_hf.construct import human_check
>>> item = human_check.items_to_check("work/emo")[0]
>>> item["styles"], item["clips"]
(['happy', 'sad'], {'happy': 'audio/emotion-test-0000-happy.flac', 'sad': 'audio/emotion-test-0000-sad.flac'})
>>> human_check.record_decision("work/emo", "ana", item["id"], "reject", "words give the style away")
>>> human_check.rejected_records("work/emo")
{'emotion-test-0000': 'words give the style away'}
```
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass

from ..io import JsonlLog, parse_record, write_atomic
from .workdir import HUMAN_CHECK_DIR, WorkDir

logger = logging.getLogger(__name__)

REJECT_REASONS = ("style not recognisable", "words give the style away", "audio defect", "text implausible", "other")
"""Why a listener rejects a record (the listening page's short list)."""
DECISIONS = ("accept", "reject")
REJECTED_DROP_REASON = "rejected by a listener: {reason}"
"""The export summary's drop reason of a rejected record's clips."""
_RATER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LOCK_FILE = ".lock"


# ---------------------------------------------------------------------------------------------------------------------
# what a page shows


def _work(work: WorkDir | str | os.PathLike) -> WorkDir:
    """`work` as a `WorkDir`; a path that is not a folder is refused (`WorkDir` would create it, empty)."""
    if isinstance(work, WorkDir):
        return work
    if not os.path.isdir(work):
        raise ValueError(f"work={os.fspath(work)!r} is not a folder; expected a build's work folder (the --out of "
                         f"`parass2s build generate`).")
    return WorkDir(work)


def items_to_check(work: WorkDir | str | os.PathLike) -> list[dict]:
    """The records a listener can check: those the generate and filter stages kept whose every style has a rendered
    clip on disk, test split first, then by id. Verify need not have run (a record is checked on its audio, whatever
    the ASR heard).

    Args:
        work (`WorkDir` or `str`): the build's work folder (generate, filter and render run).

    Returns:
        `list[dict]`: per record `id`, `split`, `dimension`, `text`, `styles` (the intended styles, in the record's
        order) and `clips` (style -> the path of its clip inside the work folder, e.g. `audio/<clip id>.flac`: the
        clip `<record id>-<style>`, in polytone mode the style's first voice that rendered; an sft record's reply
        clips are not listed).

    Raises:
        `ValueError`: a stage not run yet, or a damaged stage file line (as the stages report them).
    """
    work = _work(work)
    kept = {line["id"] for line in work.require("filter") if line.get("status") == "kept"}
    records = [r for r in work.require("generate") if r.get("status") == "ok" and r["id"] in kept]
    clips: dict[str, dict[str, list[dict]]] = {}
    for line in work.require("render"):
        if line.get("status") == "ok" and line.get("kind", "query") == "query":
            clips.setdefault(line["record_id"], {}).setdefault(line["style"], []).append(line)
    items = []
    for record in sorted(records, key=lambda r: (r["split"], r["id"])):
        rid, chosen = record["id"], {}
        for style in record["styles"]:
            # the benchmark/sft clip id first, then polytone's voices in id order (-v0, -v1, ...)
            for line in sorted(clips.get(rid, {}).get(style, []), key=lambda c: (c["id"] != f"{rid}-{style}", c["id"])):
                if os.path.isfile(work.clip_path(line)):  # a clip whose file is gone cannot be heard
                    chosen[style] = line["file_name"]
                    break
        if record["styles"] and len(chosen) == len(record["styles"]):
            items.append({"id": rid, "split": record["split"], "dimension": record["dimension"],
                          "text": record["text"], "styles": list(record["styles"]), "clips": chosen})
    return items


# ---------------------------------------------------------------------------------------------------------------------
# writing decisions


def check_rater(rater) -> str:
    """`rater` when it is a valid rater name (it names the file `human_check/<rater>.jsonl`).

    Raises:
        `ValueError`: not 1 to 64 letters, digits, `-` or `_`.
    """
    if not isinstance(rater, str) or not _RATER.fullmatch(rater):
        raise ValueError(f"rater={rater!r} is not a valid rater name; expected 1 to 64 letters (a-z, A-Z), digits, "
                         f"'-' or '_' (it names the file {HUMAN_CHECK_DIR}/<rater>.jsonl), e.g. 'ana' or 'rater-2'.")
    return rater


def rater_file(work: WorkDir | str | os.PathLike, rater: str) -> str:
    """The path of a rater's decision file, `<work>/human_check/<rater>.jsonl`."""
    return os.path.join(_work(work).path, HUMAN_CHECK_DIR, f"{check_rater(rater)}.jsonl")


def _check_decision(decision, reason, comment) -> None:
    if decision not in DECISIONS:
        raise ValueError(f"decision={decision!r}; expected one of {list(DECISIONS)}.")
    if decision == "reject" and reason not in REJECT_REASONS:
        raise ValueError(f"reason={reason!r} for a reject; expected one of {list(REJECT_REASONS)}.")
    if decision == "accept" and reason not in ("", None):
        raise ValueError(f"reason={reason!r} for an accept; a reason goes with a reject only (leave it empty, or "
                         f"put a remark in comment).")
    if comment is not None and not isinstance(comment, str):
        raise ValueError(f"comment={comment!r}; expected a string (or nothing).")


@contextlib.contextmanager
def _locked(folder: str):
    """Hold the human-check folder's lock: a rater's undo (read, then rewrite) must not lose a line appended in
    between, by another thread of the page or another process. A blocking `flock`, released when the process ends."""
    import fcntl

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, _LOCK_FILE), "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def record_decision(work: WorkDir | str | os.PathLike, rater: str, record_id: str, decision: str, reason: str = "",
                    comment: str = "") -> dict:
    """Append one decision of `rater` on a record to `<work>/human_check/<rater>.jsonl` (one line, written at once).

    Args:
        work (`WorkDir` or `str`): the build's work folder.
        rater (`str`): who decides: letters, digits, `-` and `_` (it names the rater's file).
        record_id (`str`): one of the records `items_to_check(work)` lists.
        decision (`str`): `"accept"` or `"reject"`.
        reason (`str`, *optional*, defaults to `""`): for a reject, one of `REJECT_REASONS`; empty for an accept.
        comment (`str`, *optional*, defaults to `""`): free text.

    Returns:
        `dict`: the line written (`record_id`, `decision`, `reason`, `comment`, `rater`, `time` in ISO-8601 UTC).

    Raises:
        `ValueError`: a bad rater name, a record that is not one of the folder's checkable records, a decision other
            than accept/reject, a reject without a reason from `REJECT_REASONS`, or an accept with a reason.
    """
    work = _work(work)
    path = rater_file(work, rater)
    _check_decision(decision, reason, comment)
    known = {item["id"] for item in items_to_check(work)}
    if record_id not in known:
        raise ValueError(f"record_id={record_id!r} is not a rendered record of {work.path} that a listener can check "
                         f"(kept by generate and filter, every style rendered; {len(known)} such records).")
    line = {"record_id": record_id, "decision": decision, "reason": reason or "", "comment": comment or "",
            "rater": rater, "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    with _locked(os.path.dirname(path)):
        JsonlLog(path).append(line)  # one write, flushed and fsynced; a torn last line of a crash is cut first
    return line


def undo_last(work: WorkDir | str | os.PathLike, rater: str) -> dict | None:
    """Remove `rater`'s last decision: their file is rewritten without its last line (atomically: a crash leaves the
    old file or the new one, never half of it).

    Returns:
        `dict` or `None`: the decision removed (the rater's earlier decision on that record, if any, holds again), or
        `None` when the rater has no decision to undo.

    Raises:
        `ValueError`: a bad rater name.
    """
    path = rater_file(work, rater)
    with _locked(os.path.dirname(path)):
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        if not data.endswith(b"\n"):  # a torn last line (a crash mid-append) was never a decision
            lines[-1] = b""
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            return None
        last = lines.pop()
        write_atomic(path, b"".join(line + b"\n" for line in lines))
    removed, _ = parse_record(last.decode("utf-8", errors="replace"))
    return removed


# ---------------------------------------------------------------------------------------------------------------------
# reading decisions


def _read_rater(path: str, rater: str) -> list[dict]:
    """A rater's decision lines, checked; a torn last line (a crash mid-append) is skipped.

    Raises:
        `ValueError`: a damaged line, naming the file and the line.
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    pieces = text.split("\n")
    if not text.endswith("\n") and pieces[-1].strip():
        logger.warning("%s: skipping a partial last line left by an interrupted write", path)
        pieces[-1] = ""
    out = []
    for number, piece in enumerate(pieces, 1):
        if not piece.strip():
            continue
        line, problem = parse_record(piece)
        if line is not None:
            problem = _line_problem(line, rater)
        if problem:
            raise ValueError(f"{path}, line {number}: {problem}; a decision line is {{\"record_id\", \"decision\": "
                             f"\"accept\"|\"reject\", \"reason\", \"comment\", \"rater\", \"time\"}}. Fix or delete "
                             f"the line (undo_last removes a rater's last one).")
        out.append(line)
    return out


def _line_problem(line: dict, rater: str) -> str:
    if not isinstance(line.get("record_id"), str) or not line["record_id"].strip():
        return f"record_id {line.get('record_id')!r} is not a record id"
    if line.get("rater") != rater:
        return f"rater {line.get('rater')!r} in the file of rater {rater!r}"
    try:
        _check_decision(line.get("decision"), line.get("reason", ""), line.get("comment", ""))
    except ValueError as e:
        return str(e).rstrip(".")
    return ""


@dataclass
class HumanCheck:
    """The decisions of a work folder's `human_check/`, read once (what export applies and records)."""

    latest: dict[str, list[dict]]
    """Per record id, each rater's latest decision on it, by rater name."""
    fingerprint: str
    """A hash of the decision files' names and contents: which decisions an export reflects."""

    def rejected(self) -> dict[str, str]:
        """Per rejected record, the reason of its first rejecting rater (in sorted rater order)."""
        return {rid: next(d["reason"] for d in lines if d["decision"] == "reject")
                for rid, lines in sorted(self.latest.items()) if any(d["decision"] == "reject" for d in lines)}

    def summary(self, record_ids=None) -> dict:
        """What export records: raters, records checked and rejected (by reason), the fingerprint. With
        `record_ids`, only those records count; decisions on others (records no longer in the build) are counted
        apart, as `decisions_on_other_records`."""
        latest = self.latest if record_ids is None else {r: d for r, d in self.latest.items() if r in record_ids}
        rejected = {rid: why for rid, why in self.rejected().items() if rid in latest}
        return {"raters": sorted({d["rater"] for lines in self.latest.values() for d in lines}),
                "records_checked": len(latest), "records_rejected": len(rejected),
                "rejected_by_reason": dict(sorted(Counter(rejected.values()).items())),
                "decisions_on_other_records": len(self.latest) - len(latest), "fingerprint": self.fingerprint}


def load_human_check(work: WorkDir | str | os.PathLike) -> HumanCheck | None:
    """Every rater's decisions (`human_check/<rater>.jsonl`), or `None` when the folder has no decision file.

    Raises:
        `ValueError`: a damaged decision line, naming the file and the line.
    """
    folder = os.path.join(_work(work).path, HUMAN_CHECK_DIR)
    if not os.path.isdir(folder):
        return None
    names = sorted(n for n in os.listdir(folder) if n.endswith(".jsonl") and _RATER.fullmatch(n[:-len(".jsonl")]))
    if not names:
        return None
    digest, latest = hashlib.sha256(), {}
    for name in names:
        path, rater = os.path.join(folder, name), name[:-len(".jsonl")]
        with open(path, "rb") as f:
            digest.update(f"{name}\0".encode() + hashlib.sha256(f.read()).digest())
        mine = {}
        for line in _read_rater(path, rater):
            mine[line["record_id"]] = line  # the rater's later line on a record replaces the earlier one
        for rid, line in mine.items():
            latest.setdefault(rid, []).append(line)
    return HumanCheck({rid: latest[rid] for rid in sorted(latest)}, digest.hexdigest()[:16])


def decisions(work: WorkDir | str | os.PathLike) -> dict[str, list[dict]]:
    """Per record id, each rater's latest decision on it (a list of decision lines, by rater name); `{}` when no
    one has decided anything.

    Raises:
        `ValueError`: a damaged decision line, naming the file and the line.
    """
    check = load_human_check(work)
    return check.latest if check else {}


def rejected_records(work: WorkDir | str | os.PathLike) -> dict[str, str]:
    """The rejected records: those some rater's latest decision rejects, each with the reason of its first rejecting
    rater in sorted rater order.

    Raises:
        `ValueError`: a damaged decision line, naming the file and the line.
    """
    check = load_human_check(work)
    return check.rejected() if check else {}


__all__ = ["DECISIONS", "REJECTED_DROP_REASON", "REJECT_REASONS", "HumanCheck", "check_rater", "decisions",
           "items_to_check", "load_human_check", "rater_file", "record_decision", "rejected_records", "undo_last"]
