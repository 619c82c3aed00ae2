"""Objective signals per response: what can be measured of a spoken response without asking the judge.

Free (always; no model, computed from the response file and the run's own timing):
- `duration` (s): the length of the response audio.
- `silence_ratio`: the share of the response that does not sound, `1 - sounding / duration`, with the audio door's own
  rule (`audio.sounding_seconds`: 10-ms frames whose peak stays below -60 dBFS, the level under which a clip is
  flagged silent). 0 for a clip that sounds throughout, 1 for a silent one.
- `generate_seconds`: the system's time for the response (its share of the batch the runner timed: `seconds` in
  `generations.jsonl`). Missing for precomputed responses: they were made elsewhere, and reading a file is not
  generating it.
- `rtf`: the real-time factor, `generate_seconds / duration` (below 1: faster than real time).

With `signals="asr"`:
- `speaking_rate` (words/s): the words of the response's transcript over its duration.
- `wer`: the word error rate of the transcript against the response's own text (`S2SResponse.text`), where the
  system gave one: how intelligibly it said what it meant to say. Lower-cased, without punctuation, with `jiwer`
  (`wer.word_error_rate`, the build's verify stage's rule).
The transcripts are the multi-stage judge's (`perception["response_text"]`, its `asr_model`) where it made them, else
one ASR pass with the judge's `asr_model`.

With `quality_model` (a transformers audio-classification checkpoint): `quality`, its regression output (one output,
or `problem_type="regression"`), or else the expected value over its labels, which must read as numbers (e.g. MOS
classes `"1"`..`"5"`).

A signal that cannot be measured is `None`, and why is counted (`MISSING_REASONS`); none is invented. A response is
*flagged* when its WER is above `max_wer` or its silence ratio above `max_silence_ratio`.

`signals.jsonl` in the run folder holds one line per judged (id, sample): `id`, `sample`, `system_fingerprint`,
`signals_key` (a hash of what the values depend on: the level, the ASR model and budget, the quality model's files),
`response` (a hash of the response the values are of), each signal of `SIGNALS`, `transcript`, `transcript_source`
(`"judge"` or `"asr"`) and `missing` (signal -> reason). A rerun reuses the lines whose three keys still match.

```python
>>> import numpy as np
>>> from parass2s_hf.audio import silence_ratio
>>> from parass2s_hf.wer import word_error_rate
>>> clip = np.concatenate([np.full(8000, 0.3, np.float32), np.zeros(8000, np.float32)])   # 0.5 s sound, 0.5 s none
>>> silence_ratio(clip, 16000)
0.5
>>> word_error_rate("I am so sorry to hear that.", "i am sorry to hear that")
0.14285714285714285

```
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..audio import AudioError, load_audio, silence_ratio
from ..stats import markdown_table
from ..wer import word_error_rate
from .records import SUBSETS, ItemRecord

SIGNALS_FILE = "signals.jsonl"
SIGNALS_VERSION = 1
"""Bumped when a signal's definition changes: lines of another version are computed again."""
SIGNAL_LEVELS = ("free", "asr")
FREE_SIGNALS = ("duration", "silence_ratio", "generate_seconds", "rtf")
ASR_SIGNALS = ("speaking_rate", "wer")
QUALITY_SIGNAL = "quality"
SIGNALS = (*FREE_SIGNALS, *ASR_SIGNALS, QUALITY_SIGNAL)
"""Every signal a `signals.jsonl` line holds (`None` where not measured), in report order."""
SIGNAL_LABELS = {"duration": "duration (s)", "silence_ratio": "silence ratio", "generate_seconds": "generation (s)",
                 "rtf": "RTF", "speaking_rate": "speaking rate (words/s)", "wer": "WER", "quality": "quality"}
DEFAULT_MAX_WER = 0.5
"""A response whose transcript misses or garbles more than half of its own words is flagged."""
DEFAULT_MAX_SILENCE_RATIO = 0.5
"""A response that is silent for more than half of its length is flagged."""
NO_AUDIO = "no_audio"
UNREADABLE_AUDIO = "unreadable_audio"
NO_TEXT = "no_text"
ASR_FAILED = "asr_failed"
NOT_GENERATED = "precomputed"
UNTIMED = "untimed"
NOT_COMPUTED = "not_computed"
MISSING_REASONS = {
    NO_AUDIO: "no response audio (a system error, an empty answer or an invalid query)",
    UNREADABLE_AUDIO: "the response file in the run folder could not be read",
    NO_TEXT: "the system gave no text for the response, so there is nothing to compare the transcript with",
    ASR_FAILED: "the ASR request for the response failed",
    NOT_GENERATED: "precomputed responses were generated elsewhere: their generation time is not known",
    UNTIMED: "the run recorded no generation time for the response",
    NOT_COMPUTED: "not in signals.jsonl (computed by an earlier run with other signal settings, or not at all)",
}
"""Why a signal is `None`, by reason."""
FLAGGED_SHOWN = 20
"""Flagged responses listed in report.md (report.json lists them all)."""
DECIMALS = 4
_WORD = re.compile(r"[\w']+")


def _round(x):
    return None if x is None or not math.isfinite(float(x)) else round(float(x), DECIMALS)


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---- one response ----
def real_time_factor(generate_seconds: float | None, duration: float | None) -> float | None:
    """`generate_seconds / duration`, or `None` when either is unknown or the response has no length."""
    if generate_seconds is None or not duration:
        return None
    return float(generate_seconds) / float(duration)


def count_words(text: str | None) -> int:
    """Words in `text` (runs of letters, digits and apostrophes)."""
    return len(_WORD.findall(text or ""))


def speaking_rate(transcript: str, duration: float | None) -> float | None:
    """Words of `transcript` per second of `duration`; `None` when the response has no length."""
    if not duration:
        return None
    return count_words(transcript) / float(duration)


def response_digest(record: ItemRecord) -> str:
    """What a record's signals are of: its response (file, length, words) and its generation time. A response made
    again (`--retry_failed`) is another response, so its signals are measured again."""
    return _digest({"path": record.response_path, "seconds": record.response_seconds, "text": record.response_text,
                    "generate": (record.timings or {}).get("generate")})


# ---- the settings a line depends on ----
def model_identity(model_id: str) -> dict:
    """A checkpoint by what it holds: a local folder by its files' paths, sizes and modification times (a retrained
    model in the same folder is another model); a Hub id by the revision its cached copy resolves to."""
    if os.path.isdir(model_id):
        files = []
        for root, _, names in os.walk(model_id):
            for name in sorted(names):
                path = os.path.join(root, name)
                stat = os.stat(path)
                files.append([os.path.relpath(path, model_id), stat.st_size, stat.st_mtime_ns])
        return {"path": os.path.abspath(model_id), "files": _digest(sorted(files))}
    from .manifest import checkpoint_info

    return checkpoint_info(model_id)


def signal_settings(level: str = "free", *, asr_model: str | None = None, asr_max_new_tokens: int | None = None,
                    judge_transcripts: bool = False, quality_model: str | None = None,
                    max_wer: float = DEFAULT_MAX_WER, max_silence_ratio: float = DEFAULT_MAX_SILENCE_RATIO) -> dict:
    """The signal settings of a run, as the manifest and report.json keep them.

    Args:
        level (`str`, *optional*, defaults to `"free"`): `"free"` or `"asr"` (adds `speaking_rate` and `wer`).
        asr_model (`str`, *optional*), asr_max_new_tokens (`int`, *optional*): the ASR of `"asr"`.
        judge_transcripts (`bool`, *optional*, defaults to `False`): the multi-stage judge's transcripts are reused.
        quality_model (`str`, *optional*): the quality checkpoint (adds `quality`).
        max_wer (`float`, *optional*, defaults to `0.5`), max_silence_ratio (`float`, *optional*, defaults to `0.5`):
            the flags' thresholds (a response above either is flagged).

    Returns:
        `dict`: the arguments, `signals` (the names measured) and `key` (a hash of what the values depend on: the
        version, the level, the ASR, the quality model's identity; not the thresholds, which only the report reads).

    Raises:
        `ValueError`: an unknown level, `"asr"` without an ASR model, or a threshold out of range.
    """
    if level not in SIGNAL_LEVELS:
        raise ValueError(f"signals must be one of {list(SIGNAL_LEVELS)}, got {level!r}.")
    if level == "asr" and not asr_model:
        raise ValueError("signals='asr' needs a speech recogniser (the judge's asr_model); none was given.")
    check_thresholds(max_wer, max_silence_ratio)
    asr = {"model": asr_model, "max_new_tokens": asr_max_new_tokens} if level == "asr" else None
    quality = model_identity(quality_model) if quality_model else None
    names = [*FREE_SIGNALS, *(ASR_SIGNALS if level == "asr" else ()), *([QUALITY_SIGNAL] if quality_model else [])]
    return {"level": level, "signals": names, "asr_model": asr_model if asr else None,
            "asr_max_new_tokens": asr_max_new_tokens if asr else None,
            "transcripts": ("judge, else an ASR pass" if judge_transcripts else "an ASR pass") if asr else None,
            "quality_model": quality_model, "max_wer": float(max_wer), "max_silence_ratio": float(max_silence_ratio),
            "key": _digest({"version": SIGNALS_VERSION, "level": level, "asr": asr, "quality": quality})}


def check_thresholds(max_wer, max_silence_ratio) -> None:
    """`ValueError` naming the threshold that is not a number in its range (WER >= 0, silence ratio in [0, 1])."""
    for name, value, top in (("max_wer", max_wer, math.inf), ("max_silence_ratio", max_silence_ratio, 1.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
            where = "at least 0" if top == math.inf else "between 0 and 1"
            raise ValueError(f"{name} must be a number {where}, got {value!r}.")


# ---- the quality model ----
def quality_label_values(model_id: str, config=None) -> list[float] | None:
    """What a quality checkpoint's outputs mean: `None` for a regression head (its one output is the score), else the
    number each label reads as (the score is the expected value over them). Reads only the config (no weights) when
    `config` is not given: a bad checkpoint is refused before the run starts.

    Raises:
        `ValueError`: a regression head with several outputs, or labels that do not all read as numbers (naming the
            checkpoint and its labels).
    """
    if config is None:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model_id)
    outputs = int(config.num_labels)
    labels = [str(config.id2label.get(i, i)) for i in range(outputs)]
    if config.problem_type == "regression" or outputs == 1:
        if outputs != 1:
            raise ValueError(f"quality_model {model_id!r} is a regression head with {outputs} outputs ({labels}); "
                             "expected one output, the quality score.")
        return None
    values = []
    for label in labels:
        try:
            values.append(float(label))
        except ValueError:
            values.append(math.nan)
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"quality_model {model_id!r} is a classifier whose labels {labels} do not all read as "
                         "numbers: its quality score is the expected value over its labels, so they must be numbers "
                         "(e.g. '1'..'5'); or give a regression checkpoint (num_labels=1).")
    return values


class QualityModel:
    """A quality score per clip from a transformers audio-classification checkpoint.

    Args:
        model_id (`str`): Hub id or folder of an `AutoModelForAudioClassification` checkpoint.
        settings (`LoadSettings`, *optional*): dtype, device map, batch size (loaded through `models`).

    A regression head (one output, or `problem_type="regression"`) gives its output; a classifier gives the expected
    value over its labels, which must read as numbers.

    Raises:
        `ValueError`: a regression head with several outputs, or a classifier whose labels are not numbers (naming the
            checkpoint and its labels).
    """

    def __init__(self, model_id: str, settings=None):
        from ..models import AudioClassifierBackend, LoadSettings

        self.model_id = model_id
        self.backend = AudioClassifierBackend(model_id, settings or LoadSettings(), role="quality_model")
        values = quality_label_values(model_id, self.backend.model.config)
        self.values = None if values is None else np.asarray(values, dtype=np.float64)

    def score(self, arrays: Sequence[np.ndarray]) -> list[float]:
        """The quality of each 16 kHz clip, in order."""
        import torch

        from ..constants import SAMPLING_RATE
        from ..models import extractor_kwargs, pad_short
        from ..models.local import batches, model_device

        backend, out = self.backend, []
        for sl in batches(len(arrays), backend.settings.batch_size):
            inputs = backend.extractor([pad_short(a) for a in arrays[sl]], sampling_rate=SAMPLING_RATE,
                                       return_tensors="pt", **extractor_kwargs(backend.extractor))
            inputs = {k: v.to(model_device(backend.model)) for k, v in inputs.items()}
            with torch.inference_mode():
                logits = backend.model(**inputs).logits.float().cpu().numpy().astype(np.float64)
            if self.values is None:
                out += [float(v) for v in logits[:, 0]]
            else:
                probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
                probs /= probs.sum(axis=-1, keepdims=True)
                out += [float(v) for v in probs @ self.values]
            backend.stats.update(calls=1, inputs=sl.stop - sl.start, audio_clips=sl.stop - sl.start)
        return out


# ---- lines of signals.jsonl ----
def _response_audio(record: ItemRecord, run_dir: str):
    """The record's response audio from the run folder, `None` when it has none, or the `AudioError` of a file that
    cannot be read."""
    if not record.response_path:
        return None
    try:
        return load_audio(os.path.join(run_dir, record.response_path), max_seconds=None,
                          name=f"response {record.response_path}")
    except AudioError as e:
        return e


def signal_lines(records: Sequence[ItemRecord], run_dir: str, settings: Mapping, *, timed: bool = True,
                 transcribe: Callable[[list], list] | None = None, judge_transcripts: bool = False,
                 quality: QualityModel | None = None) -> list[dict]:
    """The `signals.jsonl` lines of `records` (one each, in order).

    Args:
        records (`Sequence[ItemRecord]`): judged records of one system.
        run_dir (`str`): the run folder their `response_path` is relative to.
        settings (`Mapping`): from [`signal_settings`]; its `signals` say what is measured, its `key` keys the lines.
        timed (`bool`, *optional*, defaults to `True`): the records' generate timings are the system's generation
            time (`False` for precomputed responses: `generate_seconds` and `rtf` are then missing).
        transcribe (`Callable`, *optional*): 16 kHz arrays -> transcripts (an ASR backend's `transcribe`; an
            exception in place of a transcript is a failed request), for `wer` and `speaking_rate`.
        judge_transcripts (`bool`, *optional*, defaults to `False`): use the judge's transcript
            (`perception["response_text"]`) where a record has one, transcribing only the others.
        quality (`QualityModel`, *optional*): for `quality`.

    Returns:
        `list[dict]`: the lines (see the module's docstring).

    Raises:
        `ValueError`: `wer` or `speaking_rate` asked for and responses need an ASR pass, without `transcribe`.
    """
    names = set(settings["signals"])
    lines, audios = [], []
    for record in records:
        audio = _response_audio(record, run_dir)
        line = {"id": record.id, "sample": record.sample, "system_fingerprint": record.system_fingerprint,
                "signals_key": settings["key"], "response": response_digest(record), **dict.fromkeys(SIGNALS),
                "transcript": None, "transcript_source": None, "missing": {}}
        if not hasattr(audio, "array"):
            reason = NO_AUDIO if audio is None else UNREADABLE_AUDIO
            line["missing"] = {name: reason for name in SIGNALS if name in names}
            audio = None
        else:
            line["duration"] = _round(audio.duration)
            line["silence_ratio"] = _round(silence_ratio(audio.array, audio.sampling_rate))
            seconds = (record.timings or {}).get("generate")
            if not timed:
                line["missing"].update(generate_seconds=NOT_GENERATED, rtf=NOT_GENERATED)
            elif seconds is None:
                line["missing"].update(generate_seconds=UNTIMED, rtf=UNTIMED)
            else:
                line["generate_seconds"] = _round(seconds)
                line["rtf"] = _round(real_time_factor(seconds, audio.duration))
        lines.append(line)
        audios.append(audio)
    if names & set(ASR_SIGNALS):
        _add_transcripts(records, lines, audios, transcribe, judge_transcripts)
    if QUALITY_SIGNAL in names:
        if quality is None:
            raise ValueError("the quality signal needs the quality model; none was given.")
        have = [i for i, audio in enumerate(audios) if audio is not None]
        for i, value in zip(have, quality.score([audios[i].array for i in have]) if have else []):
            lines[i]["quality"] = _round(value)
    return lines


def _add_transcripts(records, lines, audios, transcribe, judge_transcripts) -> None:
    need = []
    for i, (record, audio) in enumerate(zip(records, audios)):
        if audio is None:
            continue
        heard = (record.perception or {}).get("response_text") if judge_transcripts else None
        if isinstance(heard, str):
            lines[i].update(transcript=heard, transcript_source="judge")
        else:
            need.append(i)
    if need:
        if transcribe is None:
            raise ValueError(f"signals='asr' needs a speech recogniser for {len(need)} response(s) without the "
                             "judge's transcript; none was given.")
        for i, text in zip(need, transcribe([audios[i].array for i in need])):
            if isinstance(text, Exception):
                lines[i]["missing"].update(speaking_rate=ASR_FAILED, wer=ASR_FAILED)
            else:
                lines[i].update(transcript=str(text or "").strip(), transcript_source="asr")
    for i, record in enumerate(records):
        line = lines[i]
        if line["transcript"] is None:
            continue
        line["speaking_rate"] = _round(speaking_rate(line["transcript"], audios[i].duration))
        if count_words(record.response_text):
            line["wer"] = _round(word_error_rate(record.response_text, line["transcript"]))
        else:
            line["missing"]["wer"] = NO_TEXT


def usable_line(line: Mapping, record: ItemRecord, settings: Mapping) -> bool:
    """Whether a `signals.jsonl` line holds `record`'s signals under `settings`: the same system, signal settings
    and response."""
    return (line.get("system_fingerprint") == record.system_fingerprint and line.get("signals_key") == settings["key"]
            and line.get("response") == response_digest(record))


# ---- the report's section ----
def _flag_reasons(line: Mapping, settings: Mapping) -> list[str]:
    why = []
    wer, silence = line.get("wer"), line.get("silence_ratio")
    if wer is not None and wer > settings["max_wer"]:
        why.append(f"WER {wer:.3f} > {settings['max_wer']:g}")
    if silence is not None and silence > settings["max_silence_ratio"]:
        why.append(f"silence {silence:.3f} > {settings['max_silence_ratio']:g}")
    return why


def signals_section(records: Sequence[ItemRecord], lines: Mapping[tuple, Mapping], settings: Mapping) -> dict:
    """The report's `signals`: per subset and over every response, the mean (and count) of each signal measured,
    the missing values by reason, and the flagged responses.

    Args:
        records (`Sequence[ItemRecord]`): the report's records (one per (id, sample)).
        lines (`Mapping[tuple, Mapping]`): their `signals.jsonl` lines by (id, sample); a record without one has
            every signal missing (`not_computed`).
        settings (`Mapping`): from [`signal_settings`].

    Returns:
        `dict`: `settings` (level, signals, ASR, transcripts, quality model, thresholds), `unit` (`"response"`),
        `columns` (per subset present, then `"all"`: `responses`, `with_audio`, per signal `{"mean", "n"}`, `flagged`),
        `missing` (per signal: reason -> responses), `transcripts` (source -> responses), `flagged` (`count`,
        `wer`, `silence_ratio`: responses past each threshold; `responses`: each flagged one's `id`, `sample`,
        `subset`, `wer`, `silence_ratio` and `why`, in id order).
    """
    names = list(settings["signals"])
    ordered = sorted(records, key=lambda r: (r.id, r.sample))  # the report does not depend on the records' order
    rows = []
    for record in ordered:
        line = lines.get((record.id, record.sample))
        if line is None:
            line = {"missing": dict.fromkeys(names, NOT_COMPUTED)}
        rows.append((record, line))
    groups = {s: [row for row in rows if row[0].subset == s] for s in SUBSETS}
    groups = {**{s: g for s, g in groups.items() if g}, "all": rows}
    columns = {}
    for name, group in groups.items():
        cell = {"responses": len(group), "with_audio": sum(line.get("duration") is not None for _, line in group)}
        for signal in names:
            values = [line[signal] for _, line in group if line.get(signal) is not None]
            cell[signal] = {"mean": _round(np.mean(values)) if values else None, "n": len(values)}
        cell["flagged"] = sum(bool(_flag_reasons(line, settings)) for _, line in group)
        columns[name] = cell
    missing = {signal: dict(sorted(Counter(line.get("missing", {}).get(signal) for _, line in rows
                                           if line.get("missing", {}).get(signal)).items()))
               for signal in names}
    flagged = []
    for record, line in rows:
        why = _flag_reasons(line, settings)
        if why:
            flagged.append({"id": record.id, "sample": record.sample, "subset": record.subset, "wer": line.get("wer"),
                            "silence_ratio": line.get("silence_ratio"), "why": why})
    shown = {k: settings.get(k) for k in ("level", "signals", "asr_model", "asr_max_new_tokens", "transcripts",
                                          "quality_model", "max_wer", "max_silence_ratio", "key")}
    return {"settings": shown, "unit": "response", "columns": columns,
            "missing": {k: v for k, v in missing.items() if v},
            "transcripts": dict(sorted(Counter(line.get("transcript_source") for _, line in rows
                                               if line.get("transcript_source")).items())),
            "flagged": {"count": len(flagged),
                        "wer": sum(any(w.startswith("WER") for w in f["why"]) for f in flagged),
                        "silence_ratio": sum(any(w.startswith("silence") for w in f["why"]) for f in flagged),
                        "responses": flagged}}


def _value(cell: Mapping, with_audio: int) -> str:
    if cell.get("mean") is None:
        return "—"
    mean = cell["mean"]
    text = "<0.001" if 0 < abs(mean) < 0.001 else f"{mean:.3f}"  # a fast system's RTF is not 0
    return text + (f" (n={cell['n']})" if cell["n"] != with_audio else "")


SIGNALS_NOTE = ("Per response (each sample of a query counts once), over the responses with audio. Duration of the "
                "response audio; silence ratio: the share of it that does not sound (10-ms frames below -60 dBFS, "
                "the audio door's silence level); generation: the system's seconds for the response (its share of "
                "the batch the runner timed; measured on this machine, so a resumed or sharded run keeps each "
                "response's own time); RTF: generation / duration.")
ASR_NOTE = ("Speaking rate: words of the response's transcript per second of its duration; WER: the transcript "
            "against the response's own text (lower-cased, no punctuation), where the system gave a text.")


def signals_markdown(section: Mapping | None, *, absent: bool = False) -> list[str]:
    """The report.md lines of a report's `signals` ([`signals_section`]): a table per subset and over all responses,
    the definitions and thresholds, what is missing and why, and the flagged responses."""
    lines = ["", "## Objective signals", ""]
    if section is None:
        return lines + ["Not in this report" + (": rebuild it with `parass2s report RUN`." if absent else
                                                " (built without the run folder's signals).")]
    settings, names = section["settings"], list(section["settings"]["signals"])
    header = ["subset", "responses", "with audio", *[SIGNAL_LABELS[n] for n in names], "flagged"]
    rows = [[name, c["responses"], c["with_audio"], *[_value(c[n], c["with_audio"]) for n in names], c["flagged"]]
            for name, c in section["columns"].items()]
    lines += markdown_table(header, rows)
    lines += ["", SIGNALS_NOTE + " `all`: every response pooled (not a mean of subsets). `(n=k)`: the mean is over "
              "the k responses where the signal was measured."]
    if "wer" in names:
        source = ", ".join(f"{n} from the {'judge' if s == 'judge' else 'ASR pass'}"
                           for s, n in section.get("transcripts", {}).items())
        lines += ["", ASR_NOTE + f" Transcripts: {settings.get('asr_model')}" + (f" ({source})." if source else ".")]
    else:
        lines += ["", "Speaking rate and WER: not computed (`--signals asr` adds them, with an ASR pass)."]
    if "quality" in names:
        lines += ["", (f"Quality: {settings.get('quality_model')}'s regression output, or its expected value over "
                       "its numeric labels.")]
    missing = section.get("missing", {})
    for reason in (NO_AUDIO, UNREADABLE_AUDIO):  # every signal of such a response is missing: said once
        count = max((reasons.get(reason, 0) for reasons in missing.values()), default=0)
        if count:
            lines.append(f"- {count} response(s) without any signal: {reason} ({MISSING_REASONS[reason]}).")
    for signal, reasons in missing.items():
        parts = "; ".join(f"{count} {reason} ({MISSING_REASONS.get(reason, reason)})"
                          for reason, count in reasons.items() if reason not in (NO_AUDIO, UNREADABLE_AUDIO))
        if parts:
            lines.append(f"- {SIGNAL_LABELS.get(signal, signal)} missing: {parts}.")
    flagged = section["flagged"]
    lines += ["", "### Flagged responses", "",
              (f"A response is flagged when its WER is above {settings['max_wer']:g} (`--max_wer`) or its silence "
               f"ratio above {settings['max_silence_ratio']:g} (`--max_silence_ratio`). Flagged: {flagged['count']} "
               f"({flagged['wer']} by WER, {flagged['silence_ratio']} by silence).")]
    if flagged["responses"]:
        shown = flagged["responses"][:FLAGGED_SHOWN]
        lines += [""] + markdown_table(["id", "sample", "subset", "WER", "silence ratio", "why"], [
            [f["id"], f["sample"], f["subset"], "—" if f["wer"] is None else f"{f['wer']:.3f}",
             "—" if f["silence_ratio"] is None else f"{f['silence_ratio']:.3f}", "; ".join(f["why"])] for f in shown])
        if len(flagged["responses"]) > len(shown):
            lines += ["", f"... and {len(flagged['responses']) - len(shown)} more (every one in report.json)."]
    return lines
