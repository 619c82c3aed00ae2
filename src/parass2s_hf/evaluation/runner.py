"""`EvaluationRunner`: generate -> judge -> report, resumable at any point.

```python
>>> from parass2s_hf.evaluation import EvaluationConfig, EvaluationRunner
>>> from parass2s_hf.judge import JudgeConfig, ParaS2SJudge
>>> from parass2s_hf.s2s import build_system
>>> system = build_system("cascade", asr="openai/whisper-large-v3", llm="Qwen/Qwen2.5-7B-Instruct", tts="espeak-ng")
>>> runner = EvaluationRunner(system, ParaS2SJudge(JudgeConfig()), EvaluationConfig(output_dir="runs/cascade"))
>>> report = runner.run()      # writes runs/cascade/report.md (the paper's Table 4 layout) and report.json
```

The run folder:
- `run.json`: what the folder's results were made with (system, judge, dataset); a different configuration is
  refused unless `overwrite`;
- `responses/<id>__<sample>.flac`: each response, converted through the audio door (16 kHz mono);
- `generations.jsonl`: one line per finished generation (or system failure), keyed by record id, sample and system
  fingerprint;
- `results.jsonl`: one `ItemRecord` per judged item, keyed by record id, sample, system and judge fingerprints;
- `signals.jsonl`: the objective signals of each judged response (`evaluation.signals`), keyed by record id, sample,
  system fingerprint, the signal settings and the response;
- `manifest.json`, `report.json`, `report.md`, `report.png`.

Generation runs over every pending item first, then judging (the judge's models load only then, so a GPU holds one
of the two at a time), then the signals (an ASR pass only with `signals="asr"`, for responses the judge did not
transcribe). Each finished item is appended and flushed before the next batch starts, so a run killed at
any moment (`kill -9` included) and started again redoes nothing finished and ends with the same report.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Sequence

from ..audio import AudioError, load_audio
from ..bench.parass2s_bench import VERSION as BENCH_VERSION
from ..constants import SCORE_MIN
from ..io import JsonlLog, read_json, write_atomic, write_json
from ..judge.items import STATUS_INVALID, JudgeItem
from ..s2s.base import S2SResponse, S2SSystem, system_fingerprint
from .config import EvaluationConfig
from .manifest import build_manifest
from .records import STATUS_EMPTY, STATUS_SYSTEM_ERROR, ItemRecord, subset_of
from .signals import (
    SIGNALS_FILE,
    QualityModel,
    quality_label_values,
    signal_lines,
    signal_settings,
    usable_line,
)

logger = logging.getLogger(__name__)

GEN_OK = "ok"
GEN_EMPTY = "empty"
GEN_ERROR = "error"


class RunStopped(RuntimeError):
    """A run stopped early because it could only fail (the message says why and what to do)."""

RUN_FILE = "run.json"
GENERATIONS_FILE = "generations.jsonl"
RESULTS_FILE = "results.jsonl"
RESPONSES_DIR = "responses"
REPORT_FILES = ("report.json", "report.md", "report.png", "manifest.json")


def _progress(total: int, desc: str):
    from ..progress import progress

    return progress(total=total, desc=desc, unit="item", dynamic_ncols=True, off=total == 0)


def judge_fingerprint(judge) -> str:
    """The judge's configuration hash (`JudgeConfig.fingerprint()`)."""
    return judge.config.fingerprint()


class EvaluationRunner:
    """Runs a speech-to-speech system over ParaS2SBench, judges every response and writes the report.

    Args:
        system (`S2SSystem`): the system under test (`parass2s_hf.s2s.build_system(...)`).
        judge (`ParaS2SJudge`): the judge (anything with `score(items)` and a `config.fingerprint()`).
        config (`EvaluationConfig`): dataset, run folder and report settings.
        dataset (`datasets.Dataset`, *optional*): rows to evaluate instead of loading `config.dataset_config` (must
            have the ParaS2SBench columns).
        asr (*optional*): a speech recogniser (anything with `transcribe(arrays) -> list[str]` and a `model_id`) for
            `signals="asr"`, instead of the judge's `asr_model`; the judge's transcripts are then not reused.
    """

    def __init__(self, system: S2SSystem, judge, config: EvaluationConfig, dataset=None, *, asr=None):
        self.system = system
        self.judge = judge
        self.config = config
        self._asr = asr
        self._quality = None
        self._signal_settings = None
        self.out = os.path.abspath(config.output_dir)
        self.system_fp = system_fingerprint(system)
        self.judge_fp = judge_fingerprint(judge)
        self._dataset = dataset
        self.shard = (int(config.shard_index), int(config.num_shards))
        self.timings = Counter()
        """Seconds spent in `generate` (the system), `judge`, `signals` and `report` during this call of `run`."""

    # ---- the dataset ----
    @property
    def dataset(self):
        if self._dataset is None:
            from ..bench import load_parass2sbench

            cfg = self.config
            kwargs = {k: getattr(cfg, k) for k in ("iemocap_dir", "meld_dir") if getattr(cfg, k)}
            self._dataset = load_parass2sbench(cfg.dataset_config, split=cfg.split, data_dir=cfg.data_dir,
                                               cache_dir=cfg.dataset_cache_dir, **kwargs)
        return self._dataset

    def _select(self) -> tuple[list[int], list[dict]]:
        """Indices and metadata (no audio) of the rows to evaluate: the chosen dimensions, `limit` per subset."""
        ds = self.dataset
        meta = ds.select_columns([c for c in ds.column_names if c != "audio"]).to_list()
        taken = Counter()
        indices = []
        rows = []
        for i, row in enumerate(meta):
            if self.config.dimensions and row["dimension"] not in self.config.dimensions:
                continue
            subset = subset_of(row)
            if self.config.limit is not None and taken[subset] >= self.config.limit:
                continue
            taken[subset] += 1
            indices.append(i)
            rows.append(row)
        if not rows:
            raise ValueError(f"No rows to evaluate in config {self.config.dataset_config!r}, split "
                             f"{self.config.split!r} with dimensions {self.config.dimensions}.")
        ids = Counter(r["id"] for r in rows)
        dupes = [i for i, n in ids.items() if n > 1]
        if dupes:
            raise ValueError(f"Record ids must be unique to key a run; repeated: {dupes[:10]}.")
        return indices, rows

    def _with_audio(self, index: int, row: dict) -> dict:
        audio = load_audio(self.dataset[index]["audio"], name=f"query {row['id']}")
        return {**row, "audio": {"array": audio.array, "sampling_rate": audio.sampling_rate}}

    # ---- the run folder ----
    def _identity(self) -> dict:
        cfg = self.config
        absolute = {k: (os.path.abspath(v) if v else None) for k, v in
                    (("data_dir", cfg.data_dir), ("iemocap_dir", cfg.iemocap_dir), ("meld_dir", cfg.meld_dir))}
        return {"system": self.system.name, "system_fingerprint": self.system_fp, "judge_fingerprint": self.judge_fp,
                "dataset": {"config": cfg.dataset_config, "split": cfg.split, **absolute}}

    def _settings(self) -> dict:
        """What the fingerprints hash, kept in run.json to say which settings differ when a rerun is refused."""
        judge_config = getattr(self.judge, "config", None)
        return {"system": {"name": self.system.name, **self.system.config()},
                "judge": judge_config.scoring_settings() if hasattr(judge_config, "scoring_settings") else {},
                "dataset": self._identity()["dataset"]}

    def _prepare_folder(self) -> None:
        """Refuse a folder made with other settings, unless `overwrite` (then delete what those settings made)."""
        os.makedirs(self.out, exist_ok=True)
        path = os.path.join(self.out, RUN_FILE)
        mine = self._identity()
        settings = self._settings()
        if os.path.exists(path):
            theirs = read_json(path, "run file")
            their_settings = theirs.pop("settings", None) if isinstance(theirs, dict) else None
            if theirs != mine:
                differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
                if not self.config.overwrite:
                    changes = settings_diff(their_settings, settings) if their_settings else []
                    shown = "; ".join(changes[:8]) + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")
                    raise ValueError(
                        f"{self.out} holds a run made with other settings ("
                        + (shown if changes else f"{', '.join(differ)} differ") + "). Use another --output folder, or "
                        "--overwrite to replace that run.")
                only_judge = differ == ["judge_fingerprint"]
                # the signals are of the responses, not of the judgement: kept with them
                doomed = [RESULTS_FILE, *REPORT_FILES] + ([] if only_judge else [GENERATIONS_FILE, RESPONSES_DIR,
                                                                                 SIGNALS_FILE])
                for name in doomed:
                    target = os.path.join(self.out, name)
                    if os.path.isdir(target):
                        shutil.rmtree(target)
                    elif os.path.exists(target):
                        os.remove(target)
                logger.warning("--overwrite: removed the previous run's %s in %s%s", ", ".join(doomed), self.out,
                               " (responses kept: only the judge changed)" if only_judge else "")
        write_json(path, {**mine, "settings": settings})

    def _finished(self) -> tuple[dict, dict]:
        """Generations and judged records of this system (and judge) already in the folder, last line wins."""
        gens, done = {}, {}
        mine = {self._own(GENERATIONS_FILE), self._own(RESULTS_FILE)}
        for path in log_files(self.out, GENERATIONS_FILE):  # every shard's part: a resharded run resumes too
            for line in JsonlLog(path, repair=self.config.repair and path in mine):
                if line.get("system_fingerprint") == self.system_fp:
                    gens[(line["id"], line["sample"])] = line
        for path in log_files(self.out, RESULTS_FILE):
            for line in JsonlLog(path, repair=self.config.repair and path in mine):
                record = ItemRecord.from_dict(line)
                if record.system_fingerprint == self.system_fp and record.judge_fingerprint == self.judge_fp:
                    done[(record.id, record.sample)] = record
        if self.config.retry_failed:
            failed = [k for k, g in gens.items() if g["status"] == GEN_ERROR]
            for key in failed:
                gens.pop(key)
                done.pop(key, None)
            if failed:
                logger.info("--retry-failed: running %d failed item(s) again", len(failed))
        return gens, done

    def _own(self, name: str) -> str:
        """This process's file of log `name`: the run's own, or its shard's part."""
        return os.path.join(self.out, part_file(name, *self.shard))

    # ---- the stages ----
    def _respond(self, rows: list[dict], sample: int) -> list[S2SResponse]:
        """The system's responses; a batch that raises is retried row by row, so one bad row fails alone."""
        try:
            responses = self.system.respond(rows, sample_index=sample)
            if len(responses) != len(rows):
                raise RuntimeError(f"system returned {len(responses)} responses for {len(rows)} rows")
            return responses
        except Exception as batch_error:  # noqa: BLE001  (a system failure is the system's result, not a crash)
            if len(rows) == 1:
                return [S2SResponse(None, None, error=f"{type(batch_error).__name__}: {batch_error}")]
            logger.warning("system failed on a batch of %d (%s); retrying row by row", len(rows), batch_error)
            return [r for row in rows for r in self._respond([row], sample)]

    def _store_response(self, row: dict, sample: int, response: S2SResponse, seconds: float) -> dict:
        line = {"id": row["id"], "sample": sample, "system_fingerprint": self.system_fp, "status": GEN_OK,
                "response_path": None, "response_text": response.text, "response_seconds": None, "error": "",
                "flags": [], "info": response.info or {}, "seconds": round(seconds, 4)}
        if response.error:
            line.update(status=GEN_ERROR, error=str(response.error))
            return line
        if response.audio is None or getattr(response.audio, "size", 1) == 0:
            line.update(status=GEN_EMPTY, error="empty audio (0 samples)", response_seconds=0.0)
            return line
        try:
            audio = load_audio(response.audio, response.sampling_rate, name=f"response to {row['id']}")
        except AudioError as e:
            line.update(status=GEN_ERROR, error=f"invalid response audio: {e.problem}")
            return line
        rel = os.path.join(RESPONSES_DIR, f"{row['id']}__{sample}.flac")
        write_atomic(os.path.join(self.out, rel), audio.to_bytes())
        line.update(response_path=rel, response_seconds=round(audio.duration, 3), flags=list(audio.flags))
        if audio.is_silent:
            line.update(status=GEN_EMPTY, error="silent audio")
        return line

    def _generate(self, todo: list[tuple], index_of: dict, row_of: dict, gens: dict) -> None:
        log = JsonlLog(self._own(GENERATIONS_FILE))
        by_sample = defaultdict(list)
        for key in todo:
            by_sample[key[1]].append(key)
        failures = Counter()
        first_batch = True
        with _progress(len(todo), "generate") as bar:
            for sample, keys in sorted(by_sample.items()):
                for start in range(0, len(keys), self.config.batch_size):
                    batch = keys[start:start + self.config.batch_size]
                    rows, lines = [], {}
                    for key in batch:
                        try:
                            rows.append(self._with_audio(index_of[key[0]], row_of[key[0]]))
                        except AudioError as e:  # a broken query is the dataset's fault: no response is asked for
                            lines[key] = {"id": key[0], "sample": sample, "system_fingerprint": self.system_fp,
                                          "status": STATUS_INVALID, "error": str(e), "seconds": 0.0}
                    tic = time.perf_counter()
                    responses = self._respond(rows, sample) if rows else []
                    seconds = time.perf_counter() - tic
                    self.timings["generate"] += seconds
                    for row, response in zip(rows, responses):
                        lines[(row["id"], sample)] = self._store_response(row, sample, response, seconds / len(rows))
                    if first_batch:
                        first_batch = False
                        self._stop_if_all_failed_alike([lines[key] for key in batch])
                    for key in batch:
                        log.append(lines[key])
                        gens[key] = lines[key]
                        failures[lines[key]["status"]] += lines[key]["status"] != GEN_OK
                    bar.update(len(batch))
                    bar.set_postfix({k: v for k, v in failures.items() if v}, refresh=False)

    @staticmethod
    def _stop_if_all_failed_alike(lines: list[dict]) -> None:
        """Stop when every item of the first batch failed with the same error: the system is broken (a missing
        package, a wrong setting), and going on would only record the same error for every item. Nothing of that
        batch is written, so the rerun after the fix does the work."""
        errors = [line.get("error", "") for line in lines if line.get("status") == GEN_ERROR]
        if len(lines) < 2 or len(errors) < len(lines):
            return
        causes = {_cause(error) for error in errors}
        if len(causes) == 1:
            raise RunStopped(f"the system failed on all {len(lines)} items of the first batch with the same error: "
                             f"{errors[0]}. Nothing was recorded; fix the cause and run the same command again.")

    def _score(self, items: list, first: bool, finished: int) -> list:
        """`judge.score(items)`, stopping the run with one line when the judge is broken: it raises (a model that
        cannot run, a bad setting), or, on the first batch, every pair failed at a server with the same error. What
        was recorded before stays recorded; nothing of this batch is, so the rerun after the fix does its work."""
        from ..models.preflight import PreflightError
        from ..models.served import EndpointUnreachable

        try:
            results = self.judge.score(items)
        except (KeyboardInterrupt, EndpointUnreachable, PreflightError, RunStopped):
            raise
        except Exception as e:  # a traceback from deep inside a model says less than this line
            kept = f"the {finished} item(s) judged before are kept; " if finished else ""
            raise RunStopped(f"the judge failed on {'the first batch' if first else 'a batch'} of {len(items)} "
                             f"item(s): {type(e).__name__}: {' '.join(str(e).split())[:500].rstrip('.')}. {kept}Nothing of this "
                             f"batch was recorded; fix the cause and run the same command again.") from e
        errors = [r.reason or "" for r in results if r.status == "missing" and (r.reason or "").startswith(
            "endpoint error")]
        if first and len(results) >= 2 and len(errors) == len(results) and len(set(map(_cause, errors))) == 1:
            raise RunStopped(f"the judge failed on all {len(results)} items of the first batch with the same "
                             f"{errors[0]}. Nothing of this batch was recorded; fix the cause and run the same "
                             f"command again.")
        return results

    def _judge(self, todo: list[tuple], index_of: dict, row_of: dict, gens: dict, done: dict) -> None:
        log = JsonlLog(self._own(RESULTS_FILE))
        counts = Counter()
        with _progress(len(todo), "judge") as bar:
            for start in range(0, len(todo), self.config.batch_size):
                batch = todo[start:start + self.config.batch_size]
                records, items, judged = {}, [], []
                for key in batch:
                    row, gen = row_of[key[0]], gens[key]
                    base = {"id": key[0], "sample": key[1], "system_fingerprint": self.system_fp,
                                "judge_fingerprint": self.judge_fp, "subset": subset_of(row), "dimension": row["dimension"],
                                "style": row["style"], "response_path": gen.get("response_path"),
                                "response_text": gen.get("response_text"), "response_seconds": gen.get("response_seconds"),
                                "system_info": gen.get("info") or {}, "timings": {"generate": gen.get("seconds", 0.0)}}
                    if gen["status"] == GEN_EMPTY:  # the system's failure: the minimum score, counted apart
                        records[key] = ItemRecord(**base, status=STATUS_EMPTY, score=SCORE_MIN,
                                                  score_expected=float(SCORE_MIN), reason=gen["error"])
                    elif gen["status"] == GEN_ERROR:
                        records[key] = ItemRecord(**base, status=STATUS_SYSTEM_ERROR, reason=gen["error"])
                    elif gen["status"] == STATUS_INVALID:
                        records[key] = ItemRecord(**base, status=STATUS_INVALID, reason=gen["error"])
                    else:
                        query = self._with_audio(index_of[key[0]], row)["audio"]
                        items.append(JudgeItem(
                            query_audio=query["array"], sampling_rate=query["sampling_rate"],
                            response_audio=os.path.join(self.out, gen["response_path"]), dimension=row["dimension"],
                            query_style=row["style"], query_text=row.get("text") or None,
                            requirement=row.get("requirement") or None, item_id=key[0]))
                        judged.append((key, base))
                if items:
                    tic = time.perf_counter()
                    results = self._score(items, first=start == 0, finished=len(done))
                    seconds = time.perf_counter() - tic
                    self.timings["judge"] += seconds
                    for (key, base), result in zip(judged, results):
                        base["timings"]["judge"] = round(seconds / len(items), 4)
                        records[key] = ItemRecord.from_result(result, **base)
                for key in batch:
                    log.append(records[key].to_dict())
                    done[key] = records[key]
                    counts[records[key].status] += 1
                bar.update(len(batch))
                bar.set_postfix(dict(counts), refresh=False)

    # ---- the signals ----
    @property
    def signal_settings(self) -> dict:
        """The run's signal settings (`evaluation.signals.signal_settings`): level, ASR, quality model, thresholds."""
        if self._signal_settings is None:
            cfg = self.config
            judge_config = getattr(self.judge, "config", None)
            if self._asr is not None:
                asr_model, budget = getattr(self._asr, "model_id", type(self._asr).__name__), None
            else:
                asr_model = getattr(judge_config, "asr_model", None)
                budget = getattr(judge_config, "asr_max_new_tokens", None)
            self._signal_settings = signal_settings(
                cfg.signals, asr_model=asr_model, asr_max_new_tokens=budget,
                judge_transcripts=self._judge_transcripts(), quality_model=cfg.quality_model, max_wer=cfg.max_wer,
                max_silence_ratio=cfg.max_silence_ratio)
        return self._signal_settings

    def _judge_transcripts(self) -> bool:
        """The multi-stage judge transcribes each response with the ASR the signals would use: its transcripts are
        reused (not with a recogniser of the caller's own, which may hear otherwise)."""
        return self._asr is None and getattr(getattr(self.judge, "config", None), "mode", None) == "multistage"

    def _transcribe(self, arrays: list) -> list:
        asr = self._asr if self._asr is not None else getattr(self.judge, "asr", None)
        if asr is None:
            raise ValueError("--signals asr needs a speech recogniser: the judge has none (no `asr`); pass "
                             "EvaluationRunner(..., asr=...).")
        cache = getattr(self.judge, "cache", None) if self._asr is None else None
        if hasattr(cache, "run"):
            # the judge's perception cache, under the judge's own key for a transcript: a later multi-stage judging
            # of this folder reuses these, and the signals reuse the judge's where the cache already has them
            stage = f"asr|{getattr(asr, 'model_id', type(asr).__name__)}|{self.judge.config.asr_max_new_tokens}"
            return cache.run(stage, arrays, asr.transcribe)
        return asr.transcribe(arrays)

    def _quality_model(self):
        if self._quality is None and self.config.quality_model:
            judge_config = getattr(self.judge, "config", None)
            settings = judge_config.load_settings() if hasattr(judge_config, "load_settings") else None
            self._quality = QualityModel(self.config.quality_model, settings)
        return self._quality

    def _signal_lines(self, done: dict) -> dict:
        """The `signals.jsonl` lines (every shard's part) that hold the signals of the records in `done`, by key."""
        settings, lines = self.signal_settings, {}
        mine = self._own(SIGNALS_FILE)
        for path in log_files(self.out, SIGNALS_FILE):
            for line in JsonlLog(path, repair=self.config.repair and path == mine):
                key = (line.get("id"), line.get("sample"))
                if key in done and usable_line(line, done[key], settings):
                    lines[key] = line
        return lines

    def _signals(self, keys: list[tuple], done: dict) -> dict:
        """Measure the signals of the judged keys that have none yet, a batch at a time, each line appended as soon
        as its batch is done (a crash loses at most one batch); returns every usable line by key."""
        have = self._signal_lines(done)
        todo = [k for k in keys if k in done and k not in have]
        if not todo:
            return have
        settings = self.signal_settings
        log = JsonlLog(self._own(SIGNALS_FILE))
        asr = settings["level"] == "asr"
        # precomputed responses were made elsewhere: the runner timed reading their files, not generating them
        timed = self.system.name != "precomputed"
        tic = time.perf_counter()
        with _progress(len(todo), "signals") as bar:
            for start in range(0, len(todo), self.config.batch_size):
                batch = todo[start:start + self.config.batch_size]
                lines = signal_lines([done[k] for k in batch], self.out, settings, timed=timed,
                                     transcribe=self._transcribe if asr else None,
                                     judge_transcripts=self._judge_transcripts(), quality=self._quality_model())
                for key, line in zip(batch, lines):
                    log.append(line)
                    have[key] = line
                bar.update(len(batch))
        self.timings["signals"] += time.perf_counter() - tic
        return have

    def progress(self) -> tuple[int, int]:
        """(items judged so far, items planned) of this configuration in the run folder."""
        index, shards = self.shard
        planned = sum(shard_of(row["id"], shards) == index for row in self._select()[1]) * self.config.num_samples
        judged = set()
        for line in JsonlLog(self._own(RESULTS_FILE)):
            record = ItemRecord.from_dict(line)
            if record.system_fingerprint == self.system_fp and record.judge_fingerprint == self.judge_fp:
                judged.add((record.id, record.sample))
        return len(judged), planned

    # ---- the whole run ----
    def run(self) -> dict:
        """Generate the pending responses, judge the pending ones, and write the report.

        Returns:
            `dict`: the report (also in `report.json`).

        Raises:
            `ValueError`: a folder holding another configuration (without `overwrite`), precomputed responses missing
                (without `allow_missing`), no rows to evaluate, or a damaged log line (without `repair`).
            `FolderLockedError`: another process is running in the folder (the message says which, since when).
        """
        from ..io import FolderLock

        os.makedirs(self.out, exist_ok=True)
        index, shards = self.shard
        # one process per folder (two would both do and log the work), or one per shard, each on its own part
        name = None if shards == 1 else f".lock.shard-{index:03d}-of-{shards:03d}"
        with FolderLock(self.out, "run folder" if shards == 1 else f"shard {index} of {shards}", name=name):
            return self._run()

    def _run(self) -> dict:
        cfg = self.config
        self.timings = Counter()
        self.signal_settings  # noqa: B018 - a bad signal setting stops the run here, before any work
        if cfg.quality_model:  # its labels, from its config: refused now, not after the whole run is judged
            quality_label_values(cfg.quality_model)
        indices, rows = self._select()
        index_of = {row["id"]: i for i, row in zip(indices, rows)}
        row_of = {row["id"]: row for row in rows}
        keys = [(row["id"], k) for row in rows for k in range(cfg.num_samples)]
        skipped: list[tuple] = []
        if hasattr(self.system, "missing"):
            skipped = list(self.system.missing(keys))
            if skipped and not cfg.allow_missing:
                shown = ", ".join(f"{i} (sample {k})" if cfg.num_samples > 1 else i for i, k in skipped[:20])
                more = f" and {len(skipped) - 20} more" if len(skipped) > 20 else ""
                raise ValueError(f"{len(skipped)} of {len(keys)} responses are missing: {shown}{more}. Add them, or "
                                 f"pass --allow-missing to score what exists and list the rest in the report.")
        self._prepare_folder()
        gone = set(skipped)
        keys_to_run = [k for k in keys if k not in gone]
        index, shards = self.shard
        keys_all = keys_to_run
        if shards > 1:  # this shard's queries only; the report waits for every shard's
            keys_to_run = [k for k in keys_to_run if shard_of(k[0], shards) == index]
        gens, done = self._finished()
        todo_gen = [k for k in keys_to_run if k not in gens]
        if len(todo_gen) < len(keys_to_run):
            logger.info("resuming: %d of %d responses already generated", len(keys_to_run) - len(todo_gen),
                        len(keys_to_run))
        self._generate(todo_gen, index_of, row_of, gens)
        todo_judge = [k for k in keys_to_run if k not in done]
        self._judge(todo_judge, index_of, row_of, gens, done)
        self._signals(keys_to_run, done)
        if shards == 1:
            return self.write_report(keys, skipped, done)
        return self._merge_shards(keys, keys_all, skipped)

    def _merge_shards(self, keys, keys_all, skipped) -> dict | None:
        """After this shard's work: the report, when every shard's items are judged (the last shard to finish writes
        it, under a lock of its own); else `None`, with how many items the other shards still owe."""
        from ..io import FolderLock, FolderLockedError

        _, done = self._finished()
        signals = self._signal_lines(done)  # a shard measures its signals after judging: done only with them
        pending = [k for k in keys_all if k not in done or k not in signals]
        index, shards = self.shard
        if pending:
            logger.info("shard %d of %d finished its items; %d item(s) of other shards remain: the last shard to "
                        "finish writes the report (or run `parass2s report %s` then)", index, shards, len(pending),
                        self.out)
            self.pending = len(pending)
            if not os.path.exists(os.path.join(self.out, "manifest.json")):  # what `parass2s report` needs to merge
                self._write_manifest(keys, None)
            return None
        try:
            with FolderLock(self.out, "report", name=".lock.report"):
                return self.write_report(keys, skipped, done)
        except FolderLockedError:  # another shard finished at the same moment and writes the same report
            logger.info("shard %d of %d: another shard is writing the report", index, shards)
            self.pending = 0
            return None

    def _report_inputs(self, records, keys, skipped, signals: dict) -> str:
        """SHA-256 of everything the report is computed from: the records, their signals, the plan and the report's
        settings (the signal thresholds included)."""
        from .. import __version__

        cfg = self.config
        return _digest({"records": [r.to_dict() for r in records], "keys": [list(k) for k in keys],
                        "skipped": [list(k) for k in skipped], "confidence": cfg.confidence,
                        "n_resamples": cfg.n_resamples, "seed": cfg.seed, "label": cfg.label,
                        "system": self.system.name, "package": __version__,
                        "signals": [signals.get((r.id, r.sample)) for r in records],
                        "signal_settings": self.signal_settings})

    def _current_report(self, inputs: str) -> dict | None:
        """The report in the folder when it was computed from exactly `inputs` and all its files are there."""
        names = ("manifest.json", "report.json", "report.md", "report.png")
        if not all(os.path.isfile(os.path.join(self.out, n)) for n in names):
            return None
        try:
            if read_json(os.path.join(self.out, "manifest.json")).get("report_inputs") != inputs:
                return None
            return read_json(os.path.join(self.out, "report.json"))
        except ValueError:
            return None  # damaged: written again

    def _write_manifest(self, keys: Sequence[tuple], inputs: str | None) -> dict:
        cfg = self.config
        manifest = build_manifest(
            system_name=self.system.name, system_config=self.system.config(), system_fingerprint=self.system_fp,
            judge_config=self.judge.config.to_dict(), judge_fingerprint=self.judge_fp,
            dataset={**self._identity()["dataset"], "version": str(BENCH_VERSION), "dimensions": cfg.dimensions,
                     "limit": cfg.limit, "rows": len({k[0] for k in keys})},
            num_samples=cfg.num_samples, seed=cfg.seed, label=cfg.label,
            extra={"bootstrap": {"confidence": cfg.confidence, "n_resamples": cfg.n_resamples},
                   "signals": self.signal_settings, "report_inputs": inputs})
        write_json(os.path.join(self.out, "manifest.json"), manifest)
        return manifest

    def write_report(self, keys: Sequence[tuple], skipped: Sequence[tuple], done: dict) -> dict:
        from .report import build_report, write_report

        tic = time.perf_counter()
        cfg = self.config
        records = [done[k] for k in keys if k in done]
        signals = self._signal_lines(done)
        inputs = self._report_inputs(records, keys, skipped, signals)
        current = self._current_report(inputs)
        if current is not None:  # a finished run judged again: nothing changed, so neither does its report
            if cfg.push_to_hub:
                push_run_to_hub(self.out, cfg.push_to_hub)
            return current
        report = build_report(records, num_samples=cfg.num_samples, planned=len(keys),
                              skipped=sorted({i for i, _ in skipped}), confidence=cfg.confidence,
                              n_resamples=cfg.n_resamples, seed=cfg.seed, signals=signals,
                              signal_settings=self.signal_settings)
        manifest = self._write_manifest(keys, inputs)
        write_report(report, self.out, manifest)
        self.timings["report"] += time.perf_counter() - tic
        if cfg.push_to_hub:
            push_run_to_hub(self.out, cfg.push_to_hub)
        return report


def shard_of(record_id: str, num_shards: int) -> int:
    """The shard of a query: a hash of its record id (every sample of a query in one shard), the same in every process
    and every run."""
    import hashlib

    return int(hashlib.sha256(str(record_id).encode()).hexdigest()[:12], 16) % num_shards


def part_file(name: str, shard_index: int, num_shards: int) -> str:
    """`results.jsonl` for one process; `results.shard-001-of-004.jsonl` for a shard."""
    if num_shards == 1:
        return name
    stem, ext = os.path.splitext(name)
    return f"{stem}.shard-{shard_index:03d}-of-{num_shards:03d}{ext}"


def log_files(run_dir: str, name: str) -> list[str]:
    """Every file of a run's log `name` (`results.jsonl`, `generations.jsonl`): the one-process file and the shards'
    parts, in a fixed order (for a key held by several, the last wins, as in one file)."""
    import glob

    stem, ext = os.path.splitext(name)
    parts = sorted(glob.glob(os.path.join(glob.escape(run_dir), f"{stem}.shard-*-of-*{ext}")))
    return [os.path.join(run_dir, name), *parts]


def _cause(error: str) -> str:
    """An error message with its quoted values and numbers blanked: two items failing for one cause read alike."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "_", error)


def _digest(obj) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def settings_diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    """`"judge.mode: 'multistage' -> 'reward_model'"` for each leaf setting that differs between two nested dicts."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += settings_diff(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def push_run_to_hub(run_dir: str, repo_id: str) -> str:
    """Upload a run's report, results and manifest (not the response audio) to a Hub dataset repo."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    info = api.upload_folder(folder_path=run_dir, repo_id=repo_id, repo_type="dataset",
                             allow_patterns=["*.json", "*.jsonl", "*.md", "*.png"],
                             commit_message="Add ParaS2SBench evaluation run")
    return str(info)
