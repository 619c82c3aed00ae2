"""The verify stage: is each rendered clip intelligible, and does it sound like its style?

For every clip the render stage made (`ok`), an ASR model transcribes it and the word error rate against the text
that was spoken (the record's text for a query, the reference reply for an SFT reply clip) is computed with `jiwer`,
after lower-casing, removing punctuation and collapsing spaces on both sides. A clip passes when its WER is at most
`max_wer` and, where a style analyzer is given for the clip's dimension (and `require_agreement`), the analyzer hears
the intended style. Reply clips are spoken in reply styles, which no query-style analyzer knows: they are checked
by WER only. A failed clip's line says why (`"wer 0.42 > 0.1"`, `"analyzer heard sad, intended happy"`).

The WER normalisation is plain: numbers written as digits on one side and as words on the other ("3" vs "three")
count as errors, so texts for the build should spell numbers out (the text layer's design rules do).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

from ..io import file_hash
from ..json_settings import json_dict
from ..wer import word_error_rate
from .workdir import StageSummary, WorkDir

logger = logging.getLogger(__name__)


@dataclass
class VerifyConfig:
    """Settings of the verify stage.

    Args:
        asr (`str`, *optional*, defaults to `"openai/whisper-large-v3"`): the speech recogniser (Hub id or folder);
            `None` skips the WER check (every clip's `wer` is then `null`).
        max_wer (`float`, *optional*, defaults to `0.1`): the largest word error rate a clip may have.
        analyzers (`dict[str, str]`, *optional*): a style analyzer (an audio classifier whose labels are the
            dimension's styles, e.g. a PolyTone analyzer) per dimension.
        require_agreement (`bool`, *optional*, defaults to `True`): fail a clip whose analyzer hears another style
            than the intended one; `False` only records what the analyzer heard.
        batch_size (`int`, *optional*, defaults to `8`): clips per ASR and analyzer call (not part of the stage's
            recorded settings: it changes the speed, not the results).
        torch_dtype (`str`, *optional*, defaults to `"auto"`): dtype of the local models.
        device_map (`str`, *optional*): passed to `from_pretrained` (e.g. `"auto"`, `"cuda"`); CPU when `None`.
        asr_max_new_tokens (`int`, *optional*, defaults to `128`): the transcript's token budget (capped at the
            model's decoder length).
    """

    asr: str | None = field(default="openai/whisper-large-v3", metadata={
        "help": "Speech recogniser for the WER check (Hub id or folder); none skips the WER check."})
    max_wer: float = field(default=0.1, metadata={"help": "Largest word error rate a clip may have."})
    analyzers: dict = field(default_factory=dict, metadata={
        "help": "Style analyzer (audio classifier over the dimension's styles) per dimension, e.g. {\"emotion\": path}."})
    require_agreement: bool = field(default=True, metadata={
        "help": "Fail a clip whose analyzer hears another style than the intended one."})
    batch_size: int = field(default=8, metadata={"help": "Clips per ASR and analyzer call."})
    torch_dtype: str = field(default="auto", metadata={"help": "dtype of the local models."})
    device_map: str | None = field(default=None, metadata={"help": "from_pretrained device map; CPU when unset."})
    asr_max_new_tokens: int = field(default=128, metadata={"help": "The transcript's token budget."})

    def __post_init__(self):
        from ..constants import DIMENSIONS

        if self.asr is not None and (not isinstance(self.asr, str) or not self.asr.strip()):
            raise ValueError(f"asr must name a speech recogniser (e.g. 'openai/whisper-large-v3') or be None, "
                             f"got {self.asr!r}.")
        try:
            self.max_wer = float(self.max_wer)
        except (TypeError, ValueError):
            raise ValueError(f"max_wer must be a number (e.g. 0.1), got {self.max_wer!r}.") from None
        if self.max_wer < 0:
            raise ValueError(f"max_wer must be 0 or more, got {self.max_wer!r}.")
        self.analyzers = json_dict("analyzers", self.analyzers)
        unknown = sorted(set(self.analyzers) - set(DIMENSIONS))
        if unknown:
            raise ValueError(f"analyzers are keyed by dimension; {unknown} are not among {list(DIMENSIONS)}.")
        if self.asr is None and not self.analyzers:
            raise ValueError("verify needs an asr model, an analyzer, or both; got neither.")
        for name in ("batch_size", "asr_max_new_tokens"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, got {getattr(self, name)!r}.")




def _spoken_text(line: dict, record: dict | None) -> str | None:
    """The text a rendered clip speaks: the record's text, or for an SFT reply clip the reference reply of its query
    style (the clip id is `{record_id}-{style}-reply`)."""
    if record is None:
        return None
    if line.get("kind") == "reply":
        query_style = line["id"][len(record["id"]) + 1:-len("-reply")]
        entry = (record.get("per_style") or {}).get(query_style) or {}
        return entry.get("reference_reply")
    return record.get("text")


def _drop_key(reasons: list[str], max_wer: float) -> str:
    keys = []
    for reason in reasons:
        if reason.startswith("wer "):
            keys.append(f"wer > {max_wer:g}")
        elif reason.startswith("analyzer heard"):
            keys.append("analyzer disagrees")
        else:
            keys.append(reason.split(":", 1)[0])
    return " and ".join(keys)


def _backend_name(obj) -> str:
    return str(getattr(obj, "model_id", None) or type(obj).__name__)


def run_verify(work: WorkDir, config: VerifyConfig, asr=None, analyzers: dict | None = None, *,
               overwrite: bool = False, repair: bool = False) -> dict:
    """Verify the rendered clips of a work folder (see the module docstring).

    Args:
        work (`WorkDir`): the build's folder, with render done.
        config (`VerifyConfig`): the stage's settings.
        asr (*optional*): an object with `transcribe(list[np.ndarray]) -> list[str]` (16 kHz clips) to use instead of
            loading `config.asr`; its `model_id` (or class name) is recorded.
        analyzers (`dict`, *optional*): `{dimension: object with classify(list[np.ndarray]) -> list[str]}` to use
            instead of loading `config.analyzers`.
        overwrite (`bool`, *optional*, defaults to `False`): redo the stage when it ran here with other settings.
        repair (`bool`, *optional*, defaults to `False`): move the damaged lines of the stage files read here (not
            JSON, or a record without the fields the stages need) to `<file>.rejected`, keep the rest and redo their
            items, instead of refusing them (see `WorkDir`).

    Returns:
        `dict`: the stage summary (`in`: rendered clips, `out`: passed, `dropped`: failed by reason).

    Raises:
        `ValueError`: a stage not run yet, or a damaged line of a stage file (without `repair`), e.g. a rendered clip
            whose `file_name` leads outside the work folder (named with `rendered.jsonl` and the clip id: nothing
            from elsewhere is read).
    """
    from ..audio import AudioError, load_audio
    from ..progress import progress

    work = work.repairing(repair)
    rendered = [line for line in work.require("render") if line.get("status") == "ok"]
    records = {r["id"]: r for r in work.require("generate")}
    settings = dataclasses.asdict(config)
    settings.pop("batch_size")  # changes the speed, not the results
    if asr is not None:
        settings["asr_backend"] = _backend_name(asr)
    if analyzers:
        settings["analyzer_backends"] = {dim: _backend_name(a) for dim, a in sorted(analyzers.items())}
    work.begin("verify", settings, overwrite=overwrite)
    done = {line["id"]: line for line in work.read("verify")}
    # A verdict holds for the audio it was made on: a clip rendered again since (another renderer's take, a replaced
    # file) is verified again. Hashes are remembered by modification time, so unchanged clips are not read again.
    for line in rendered:
        seen = done.get(line["id"], {}).get("audio_sha256")
        if seen and seen != _clip_hash(work, line):
            del done[line["id"]]

    summary = StageSummary("verify")
    pending = summary.resume(rendered, done, "passed", lambda previous: _drop_key(
        (previous.get("reason") or "unknown").split("; "), config.max_wer))
    if not pending:
        return work.record_summary(summary)

    if asr is None and config.asr:
        asr = _load_asr(config)
    analyzers = dict(analyzers or {})
    needed = {records[line["record_id"]]["dimension"] for line in pending
              if line.get("kind") == "query" and line.get("record_id") in records}
    for dim in sorted(needed):
        if dim not in analyzers and dim in config.analyzers:
            analyzers[dim] = _load_analyzer(config, dim)

    log = work.log("verify")
    bar = progress(total=len(pending), desc="verify", unit="clip")
    for start in range(0, len(pending), config.batch_size):
        batch = pending[start:start + config.batch_size]
        results = {}
        audios = {}
        for line in batch:
            record = records.get(line.get("record_id"))
            text = _spoken_text(line, record)
            if text is None:
                results[line["id"]] = {"reasons": ["no text: the record or its reply is missing from generated.jsonl"]}
                continue
            path = work.clip_path(line)  # refused when it leads outside the work folder: only clips are transcribed
            try:
                audios[line["id"]] = load_audio(path, name=line["id"]).array
                res_hash = file_hash(path)
            except AudioError as e:
                results[line["id"]] = {"reasons": [f"audio unreadable: {e.problem}"]}
                continue
            results[line["id"]] = {"reasons": [], "text": text, "record": record, "audio_sha256": res_hash}
        ids = list(audios)
        transcripts = dict(zip(ids, asr.transcribe([audios[i] for i in ids]))) if (asr is not None and ids) else {}
        heard = {}
        by_dim: dict[str, list[str]] = {}
        for line in batch:
            res = results[line["id"]]
            if line["id"] in audios and line.get("kind") == "query" and res["record"]["dimension"] in analyzers:
                by_dim.setdefault(res["record"]["dimension"], []).append(line["id"])
        for dim, clip_ids in by_dim.items():
            heard.update(zip(clip_ids, analyzers[dim].classify([audios[i] for i in clip_ids])))

        for line in batch:
            res = results[line["id"]]
            out = {"id": line["id"], "status": "failed", "reason": "", "wer": None, "transcript": None,
                   "analyzer_style": None, "audio_sha256": res.get("audio_sha256")}
            reasons = list(res["reasons"])
            if line["id"] in audios:
                if line["id"] in transcripts:
                    transcript = str(transcripts[line["id"]] or "").strip()
                    wer = word_error_rate(res["text"], transcript)
                    out.update(transcript=transcript, wer=round(wer, 4))
                    if wer > config.max_wer:
                        reasons.append(f"wer {wer:.2f} > {config.max_wer:g}")
                if line["id"] in heard:
                    style = str(heard[line["id"]]).strip().lower()
                    out["analyzer_style"] = style
                    if config.require_agreement and style != line["style"]:
                        reasons.append(f"analyzer heard {style}, intended {line['style']}")
            if reasons:
                out["reason"] = "; ".join(reasons)
                summary.dropped[_drop_key(reasons, config.max_wer)] += 1
            else:
                out["status"] = "passed"
                summary.items_out += 1
            log.append(out)
            bar.update(1)
    bar.close()
    return work.record_summary(summary)


def _clip_hash(work: WorkDir, line: dict) -> str | None:
    """The content hash of a rendered clip's file, or `None` when it cannot be read (then its verdict stands)."""
    try:
        return file_hash(work.clip_path(line))
    except (OSError, ValueError):
        return None


def _settings(config: VerifyConfig):
    from ..models import LoadSettings

    return LoadSettings(torch_dtype=config.torch_dtype, device_map=config.device_map, batch_size=config.batch_size)


def _load_asr(config: VerifyConfig):
    from ..models import ASRBackend

    try:  # the budget is capped at what the decoder's positions allow
        return ASRBackend(config.asr, _settings(config), max_new_tokens=config.asr_max_new_tokens)
    except OSError as e:
        raise ValueError(f"Cannot load the ASR model {config.asr!r} (a Hub id or a local folder; offline, only "
                         f"models already in the cache load): {e}") from e


def _load_analyzer(config: VerifyConfig, dimension: str):
    from ..models import style_analyzer

    try:
        return style_analyzer(config.analyzers[dimension], dimension, _settings(config))
    except OSError as e:
        raise ValueError(f"Cannot load the {dimension} style analyzer {config.analyzers[dimension]!r}: {e}") from e


__all__ = ["VerifyConfig", "run_verify", "word_error_rate"]
