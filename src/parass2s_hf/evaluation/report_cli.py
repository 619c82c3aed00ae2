"""`parass2s report RUN [RUN ...]`: rebuild a run folder's `report.json`, `report.md` and `report.png` from its records,
without loading any model (e.g. after an upgrade of the report, or to get the report of a run copied from elsewhere).

```
parass2s report runs/omni                 # rewrites runs/omni/report.{json,md,png}
parass2s report runs/*                    # several runs
```

The numbers are the ones `EvaluationRunner.write_report` gives, from what the run folder keeps:
- `run.json`: the system and judge fingerprints; only the records of `results.jsonl` made under them count (lines
  left there by other settings are ignored, as the runner ignores them), the last line of an (id, sample) winning.
- `manifest.json`: `num_samples`, `seed`, the bootstrap's `confidence` and `n_resamples` (`bootstrap`; the method is
  the runner's, percentile), the label and the "Run" section, and the selection (`dataset.dimensions`,
  `dataset.rows`). Records of other dimensions, or of a sample index beyond `num_samples`, are left out. The planned
  (id, sample) keys are `dataset.rows * num_samples`, as the runner counts them.
- the ids the run skipped (responses a precomputed system did not have): the runner learns them from the system, and
  the folder keeps them only in the previous `report.json`, so they are taken from there as they are. Without a
  readable previous `report.json` (of the same fingerprints) they cannot be listed: the report is written without
  them, and a note (and a warning) says how many planned keys have no record.
- `dataset.limit` picks rows in dataset order, which the folder does not keep: when the records hold more ids than
  the run selected (a folder rerun with a smaller `--limit`), all of them count and a note says so.
- the objective signals: the lines of `signals.jsonl` made under the manifest's `signals` settings for the records'
  responses, as the runner reads them. A record without one (a run older than the signals, or one whose signals were
  never measured) has its free signals (duration, silence ratio, generation time, real-time factor) measured here from
  its response file; what needs a model (WER, speaking rate, quality) is missing for it (`not_computed`), and a note
  says how many. A manifest without signal settings (an older run) gets the free signals with the default thresholds.

Nothing but the three report files is written: `results.jsonl` and `manifest.json` are only read (a torn last line is
skipped, not cut). The run folder's lock is held while writing, so a run in progress is not raced.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..cli_style import add_config_file, add_verbosity, dash_aliases, parse_args
from ..io import FolderLock, FolderLockedError, parse_record, read_json
from .records import ItemRecord
from .report import build_report, scores_table, write_report
from .runner import RESULTS_FILE, RUN_FILE, log_files
from .signals import (
    FREE_SIGNALS,
    NOT_COMPUTED,
    SIGNAL_LEVELS,
    SIGNALS,
    SIGNALS_FILE,
    check_thresholds,
    signal_lines,
    signal_settings,
    usable_line,
)

__all__ = ["main", "rebuild_report"]

MANIFEST_FILE, REPORT_FILE = "manifest.json", "report.json"
BOOTSTRAP_DEFAULTS = {"confidence": 0.95, "n_resamples": 2000}  # `EvaluationConfig`'s, for a manifest without them


def _read_records(path: str) -> tuple[list[dict], list[str]]:
    """The JSON lines of `results.jsonl`, read only. A torn last line (a write cut by a crash) is skipped with a
    warning, as the runner drops it; any other damaged line is an error naming the file and the line."""
    if not os.path.exists(path):
        return [], []  # a run whose every key was skipped judged nothing and never made the file
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    lines, warnings = text.split("\n"), []
    torn = lines.pop() if lines else ""  # after the last newline: "" unless the last write was cut
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        value, problem = parse_record(line)  # the same rule as the runner's logs, without repairing the file
        if problem:
            raise ValueError(f"{path}, line {number}: not a valid record ({problem}). Fix or remove the line, or rerun "
                             "`parass2s evaluate` on the folder with --repair to redo its item.")
        out.append((number, value))
    if torn.strip():
        warnings.append(f"{path}: skipped a partial last line left by an interrupted run.")
    return out, warnings


def _record(path: str, number: int, line: dict) -> ItemRecord:
    try:
        record = ItemRecord.from_dict(line)
    except TypeError as e:  # a required field is missing
        raise ValueError(f"{path}, line {number}: not a valid record ({e}).") from None
    numbers = [("score", record.score), ("score_expected", record.score_expected)]
    bad = [name for name, value in numbers if value is not None and (isinstance(value, bool)
                                                                      or not isinstance(value, (int, float)))]
    if not isinstance(record.id, str) or not isinstance(record.sample, int) or bad:
        raise ValueError(f"{path}, line {number}: not a valid record (id, sample or {'/'.join(bad) or 'score'} of the "
                         "wrong type).")
    return record


def _load_run(run_dir: str) -> tuple[dict, dict]:
    if not os.path.isdir(run_dir):
        raise ValueError(f"{run_dir}: no such folder.")
    if not os.path.isfile(os.path.join(run_dir, RUN_FILE)):
        raise ValueError(f"{run_dir} is not a run folder: it has no {RUN_FILE} (a folder written by `parass2s "
                         "evaluate`).")
    run = read_json(os.path.join(run_dir, RUN_FILE), "run file")
    if not isinstance(run, dict) or not all(isinstance(run.get(k), str) for k in ("system_fingerprint",
                                                                                 "judge_fingerprint")):
        raise ValueError(f"{os.path.join(run_dir, RUN_FILE)}: the run file is damaged (no system_fingerprint and "
                         "judge_fingerprint).")
    if not os.path.isfile(os.path.join(run_dir, MANIFEST_FILE)):
        raise ValueError(f"{run_dir}: no {MANIFEST_FILE}: the run has not finished once; run the same `parass2s "
                         "evaluate` command again to finish it (that writes the report).")
    path = os.path.join(run_dir, MANIFEST_FILE)
    manifest = read_json(path, "manifest")
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: the manifest is damaged (a JSON {type(manifest).__name__}, not an object).")  # noqa: TRY004
    found = {k: ((manifest.get(k) or {}) if isinstance(manifest.get(k), dict) else {}).get("fingerprint")
             for k in ("system", "judge")}
    if found != {"system": run["system_fingerprint"], "judge": run["judge_fingerprint"]}:
        raise ValueError(f"{path} names other settings than {RUN_FILE} (system/judge fingerprints {found['system']}/"
                         f"{found['judge']} vs {run['system_fingerprint']}/{run['judge_fingerprint']}): the folder is "
                         "damaged or half overwritten; rerun `parass2s evaluate` on it.")
    num_samples, seed = manifest.get("num_samples"), manifest.get("seed")
    for name, value, least in (("num_samples", num_samples, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{path}: the manifest is damaged ({name}={value!r}).")
    return run, manifest


def _previous_skipped(run_dir: str, run: dict) -> list[str] | None:
    """The skipped ids of the report.json the runner wrote, or `None` when there is no readable one of these
    settings (it is rewritten here, so a damaged one is no error)."""
    try:
        previous = read_json(os.path.join(run_dir, REPORT_FILE), "report")
    except (ValueError, OSError):
        return None
    if not isinstance(previous, dict):
        return None
    for key in ("system_fingerprint", "judge_fingerprint"):
        if previous.get(key) not in (None, run[key]):
            return None  # a report of other settings: its skipped ids are not this run's
    ids = (previous.get("skipped") or {}).get("ids") if isinstance(previous.get("skipped"), dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return None
    return ids


def rebuild_report(run_dir: str | os.PathLike) -> dict:
    """Rebuild a run folder's report from its `results.jsonl`, `run.json` and `manifest.json` (see the module's
    docstring for what is taken from where).

    Args:
        run_dir (`str` or `os.PathLike`): a run folder of `parass2s evaluate` that finished at least once.

    Returns:
        `dict`: `report` (as in `report.json`), `paths` (`{"json", "markdown", "figure"}`), `table` (the Table-4 rows
        as Markdown lines) and `warnings` (what could not be rebuilt exactly; also in the report's notes).

    Raises:
        `ValueError`: not a run folder, or a damaged `run.json`, `manifest.json` or `results.jsonl`.
        `FolderLockedError`: a run is in progress in the folder.
    """
    run_dir = os.path.abspath(os.fspath(run_dir))
    run, manifest = _load_run(run_dir)
    with FolderLock(run_dir, "run folder"):  # the runner writes these files too: not while it runs
        return _rebuild(run_dir, run, manifest)


def _rebuild(run_dir: str, run: dict, manifest: dict) -> dict:
    lines, warnings = [], []
    for part in log_files(run_dir, RESULTS_FILE):  # a sharded run's parts too, merged as the last shard merges them
        part_lines, part_warnings = _read_records(part)
        lines += [(part, number, line) for number, line in part_lines]
        warnings += part_warnings
    notes = []
    num_samples, seed = manifest["num_samples"], manifest["seed"]
    dataset = manifest.get("dataset") if isinstance(manifest.get("dataset"), dict) else {}
    dimensions = dataset.get("dimensions")
    done = {}
    for path, number, line in lines:
        record = _record(path, number, line)
        if (record.system_fingerprint, record.judge_fingerprint) != (run["system_fingerprint"],
                                                                     run["judge_fingerprint"]):
            continue  # lines of other settings: the runner ignores them too
        if record.sample >= num_samples or (dimensions and record.dimension not in dimensions):
            continue  # outside the run's selection: the runner's keys never hold them
        done[(record.id, record.sample)] = record  # the last line of a key wins, as in the runner
    ids = {key[0] for key in done}
    rows = dataset.get("rows")
    planned = rows * num_samples if isinstance(rows, int) and not isinstance(rows, bool) else None
    if planned is None:
        warnings.append(f"{os.path.join(run_dir, MANIFEST_FILE)} has no dataset.rows: the planned keys are not given.")
    elif len(ids) > rows:
        notes.append(f"rebuilt by `parass2s report`: the folder holds records of {len(ids)} ids, the run selected "
                     f"{rows} rows (a smaller --limit?); which ones is not kept, so all {len(ids)} count here.")
        warnings.append(notes[-1])
    previous = _previous_skipped(run_dir, run)
    if previous is not None:
        skipped = sorted(set(previous))  # as the runner listed them: what the system said it lacked, records or not
    else:
        skipped = []
        unknown = (planned or 0) - len(done)
        if unknown > 0:
            notes.append(f"rebuilt by `parass2s report` without a readable previous report.json: {unknown} planned "
                         "(id, sample) keys have no record (skipped by the run, or not judged yet); their ids are "
                         "not kept elsewhere in the folder, so none is listed as skipped.")
            warnings.append(notes[-1])
    extra = manifest.get("extra") if isinstance(manifest.get("extra"), dict) else {}
    boot = manifest.get("bootstrap") or extra.get("bootstrap")  # the runner passes it as `extra`, kept at the top
    if not isinstance(boot, dict) or not all(k in boot for k in BOOTSTRAP_DEFAULTS):
        warnings.append(f"{os.path.join(run_dir, MANIFEST_FILE)} has no bootstrap settings: using the defaults "
                        f"{BOOTSTRAP_DEFAULTS}.")
        boot = {**BOOTSTRAP_DEFAULTS, **(boot if isinstance(boot, dict) else {})}
    n_resamples, confidence = boot["n_resamples"], boot["confidence"]
    if (isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1
            or isinstance(confidence, bool) or not isinstance(confidence, (int, float))):
        raise ValueError(f"{os.path.join(run_dir, MANIFEST_FILE)}: the manifest is damaged (bootstrap "
                         f"n_resamples={n_resamples!r}, confidence={confidence!r}).")
    if dimensions is not None and not isinstance(dimensions, list):
        raise ValueError(f"{os.path.join(run_dir, MANIFEST_FILE)}: the manifest is damaged "
                         f"(dataset.dimensions={dimensions!r}).")
    records = [done[key] for key in sorted(done)]
    settings = _signal_settings(run_dir, manifest)
    signals = _signals(run_dir, manifest, records, settings, notes, warnings)
    report = build_report(records, num_samples=num_samples, planned=planned, skipped=skipped,
                          confidence=confidence, n_resamples=n_resamples, seed=seed, signals=signals,
                          signal_settings=settings)
    report["notes"] += notes  # only when the rebuild differs from what the runner knew: say so in the report itself
    paths = write_report(report, run_dir, manifest)
    return {"report": report, "paths": paths, "table": scores_table(report, manifest), "warnings": warnings}


def _signal_settings(run_dir: str, manifest: dict) -> dict:
    """The run's signal settings from its manifest (the runner's, as they were); the free signals with the default
    thresholds for a manifest from before the signals."""
    settings = manifest.get("signals")
    if settings is None:
        return signal_settings("free")
    path = os.path.join(run_dir, MANIFEST_FILE)
    names = settings.get("signals") if isinstance(settings, dict) else None
    if (not isinstance(names, list) or not set(names) <= set(SIGNALS) or not isinstance(settings.get("key"), str)
            or settings.get("level") not in SIGNAL_LEVELS):
        raise ValueError(f"{path}: the manifest is damaged (signals={settings!r}).")
    try:
        check_thresholds(settings.get("max_wer"), settings.get("max_silence_ratio"))
    except ValueError as e:
        raise ValueError(f"{path}: the manifest is damaged (signals: {e})") from None
    return settings


def _signals(run_dir: str, manifest: dict, records: list[ItemRecord], settings: dict, notes: list,
             warnings: list) -> dict:
    """The records' signal lines: `signals.jsonl`'s (every part, read only, the last usable line of a key winning),
    and for a record without one its free signals measured from its response file."""
    by_key = {(r.id, r.sample): r for r in records}
    lines = {}
    for part in log_files(run_dir, SIGNALS_FILE):
        part_lines, part_warnings = _read_records(part)
        warnings += part_warnings
        for _, line in part_lines:
            key = (line.get("id"), line.get("sample"))
            if key in by_key and usable_line(line, by_key[key], settings):
                lines[key] = line
    lacking = [r for r in records if (r.id, r.sample) not in lines]
    if not lacking:
        return lines
    system = manifest.get("system") if isinstance(manifest.get("system"), dict) else {}
    free = {**settings, "signals": [n for n in settings["signals"] if n in FREE_SIGNALS]}
    for record, line in zip(lacking, signal_lines(lacking, run_dir, free, timed=system.get("name") != "precomputed")):
        for name in settings["signals"]:
            if name not in FREE_SIGNALS:
                line["missing"][name] = NOT_COMPUTED
        lines[(record.id, record.sample)] = line
    modelled = [n for n in settings["signals"] if n not in FREE_SIGNALS]
    if modelled:
        notes.append(f"rebuilt by `parass2s report`: {len(lacking)} response(s) had no line in {SIGNALS_FILE}: their "
                     f"free signals were measured from the response files; {', '.join(modelled)} need a model and "
                     "are missing for them (rerun `parass2s evaluate` on the folder to measure them).")
        warnings.append(notes[-1])
    return lines


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def main(argv: list[str] | None = None) -> int:
    """`parass2s report RUN [RUN ...]`: 0 when every report was rebuilt; 2 when a folder was bad input (one line
    `parass2s report: error: ...` each; the other folders are still rebuilt)."""
    parser = argparse.ArgumentParser(
        prog="parass2s report", description="Rebuild the report (report.json, report.md, report.png) of evaluation run "
        "folders from their results.jsonl, run.json and manifest.json, without loading any model.")
    parser.add_argument("runs", nargs="*", metavar="RUN", help="run folders written by `parass2s evaluate`")
    add_config_file(parser)
    add_verbosity(parser)
    args = parse_args(dash_aliases(parser), argv)
    if not args.runs:
        parser.error("give the run folders whose reports to rebuild (or `runs:` in --config FILE)")
    status = 0
    for i, run_dir in enumerate(args.runs):
        try:
            result = rebuild_report(run_dir)
        except (ValueError, OSError, FolderLockedError) as e:  # bad input: one clear line, not a traceback
            print(f"parass2s report: error: {_one_line(e)}", file=sys.stderr)
            status = 2
            continue
        for warning in result["warnings"]:
            print(f"parass2s report: warning: {_one_line(warning)}", file=sys.stderr)
        print(("\n" if i else "") + os.path.abspath(run_dir))
        print("\n".join(result["table"]))
        print("report: " + ", ".join(result["paths"][k] for k in ("markdown", "json", "figure")))
    return status
