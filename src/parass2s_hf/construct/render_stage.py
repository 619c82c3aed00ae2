"""The render stage: every kept text spoken in its styles, one FLAC file and one `rendered.jsonl` line per clip.

Which clips, by the build's mode (the generate stage's):

| mode | clips per record | clip id |
|---|---|---|
| benchmark | each of its two styles, one voice shared by the pair where the styles share a voice pool | `{record_id}-{style}` |
| polytone | every style of the dimension x `voices_per_style` distinct voices | `{record_id}-{style}-v{k}` |
| sft | each query style, and its reference reply spoken in the reply's style | `{record_id}-{style}`, `{record_id}-{style}-reply` |

Only records that the generate stage kept (`ok`) and the filter stage kept (`kept`) are rendered. A line's `style` is
the style the clip is spoken in (for an SFT reply, the reply style). A renderer error on one clip (or silence) is
that clip's `failed` line, with the reason and no file; it never stops the stage. A rerun renders only the clips not
yet in `rendered.jsonl`, and those recorded as rendered whose audio file is gone (a recorded failure is not retried;
`--overwrite` redoes the stage when its settings changed). A damaged line of a stage file is refused, naming it; `--repair` moves it to
`<file>.rejected` and its clip is rendered again (see `WorkDir`).

Voice split: with `voice_split` (the default), the test and train splits use disjoint voices, so a model trained on
the train split is never tested on a voice it heard. Every voice the renderer can use for the build's styles (its
`voices(style)` pools) is assigned to test or train once, balancing each pool between the two; each clip then takes a
voice key whose voice lies in its split's share. A style whose pool has a single voice cannot be split: its clips use
that voice in both splits, with a warning; the style is listed in the stage's settings (`voice_split_unavailable`)
and its voices under `split_voices["shared"]` (beside the `"test"` and `"train"` voices).
A renderer without `voices(style)` gets no split (warning, recorded as `voice_split_effective: false`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..io import resolve_inside, write_atomic
from ..json_settings import json_dict
from ..render.voice_split import VoicePlan, assign_voice_splits, pick_voice_key  # noqa: F401 - re-exported
from .workdir import StageSummary, WorkDir

logger = logging.getLogger(__name__)

DEFAULT_POLYTONE_VOICES = 3
_REASON_CHARS = 400


@dataclass
class RenderConfig:
    """Settings of the render stage.

    Args:
        renderer (`str`, *optional*, defaults to `"espeak-ng"`): the renderer, in any form `resolve_renderer` accepts
            (a registered name, `openai-speech:<model>`, an `http(s)://` endpoint, a transformers model id or folder).
        renderer_kwargs (`dict`, *optional*): arguments of the renderer (e.g. `{"device": "cuda"}`,
            `{"api_base": ..., "voices": {...}}`).
        voices_per_style (`int`, *optional*): voices per style and record in polytone mode (defaults to 3 there);
            the other modes render one clip per style and accept only 1.
        voice_split (`bool`, *optional*, defaults to `True`): give the test and train splits disjoint voices.
        num_workers (`int`, *optional*, defaults to `1`): clips rendered at once (threads); more pays off for an
            endpoint renderer. It does not change the output, so it is not part of the stage's recorded settings.
    """

    renderer: str = field(default="espeak-ng", metadata={
        "help": "The renderer: espeak-ng, transformers model id or folder, openai-speech:<model>, or an endpoint URL."})
    renderer_kwargs: dict = field(default_factory=dict, metadata={
        "help": "Arguments of the renderer, e.g. {\"device\": \"cuda\"} or {\"api_base\": ..., \"voices\": {...}}."})
    voices_per_style: int | None = field(default=None, metadata={
        "help": f"Voices per style and record in polytone mode (default {DEFAULT_POLYTONE_VOICES}); 1 in the other modes."})
    voice_split: bool = field(default=True, metadata={
        "help": "Give the test and train splits disjoint voices (needs a renderer with voices(style))."})
    num_workers: int = field(default=1, metadata={
        "help": "Clips rendered at once (threads); more helps an endpoint renderer. Not part of the settings."})

    def __post_init__(self):
        if not isinstance(self.renderer, str) or not self.renderer.strip():
            raise ValueError(f"renderer must name a renderer (e.g. 'espeak-ng'), got {self.renderer!r}.")
        self.renderer_kwargs = json_dict("renderer_kwargs", self.renderer_kwargs)
        if self.voices_per_style is not None and (not isinstance(self.voices_per_style, int)
                                                  or self.voices_per_style < 1):
            raise ValueError(f"voices_per_style must be a whole number of at least 1, got {self.voices_per_style!r}.")
        if not isinstance(self.num_workers, int) or self.num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {self.num_workers!r}.")

    def settings(self) -> dict:
        """The recorded settings (everything but `num_workers`)."""
        out = dataclasses.asdict(self)
        out.pop("num_workers")
        return out


# ---- planning ----

def _kept_records(work: WorkDir) -> list[dict]:
    generated = work.require("generate")
    filtered = {line["id"]: line for line in work.require("filter")}
    return [r for r in generated
            if r.get("status") == "ok" and filtered.get(r["id"], {}).get("status") == "kept"]


def _clip_specs(record: dict, mode: str, voices: int) -> list[dict]:
    """The clips of one record, before voices: id, kind, spoken style, text, base voice key, query style."""
    rid, styles = record["id"], list(record["styles"])
    pair_key = record.get("pair_id") or rid
    if mode == "benchmark":
        return [{"id": f"{rid}-{s}", "kind": "query", "style": s, "text": record["text"], "base_key": pair_key,
                 "query_style": s} for s in styles]
    if mode == "polytone":
        return [{"id": f"{rid}-{s}-v{k}", "kind": "query", "style": s, "text": record["text"],
                 "base_key": f"{pair_key}-v{k}", "query_style": s, "voice_index": k}
                for s in styles for k in range(voices)]
    specs = []
    for s in styles:
        specs.append({"id": f"{rid}-{s}", "kind": "query", "style": s, "text": record["text"], "base_key": pair_key,
                      "query_style": s})
        entry = (record.get("per_style") or {}).get(s) or {}
        specs.append({"id": f"{rid}-{s}-reply", "kind": "reply", "style": entry.get("reference_reply_style"),
                      "text": entry.get("reference_reply"), "base_key": f"{pair_key}-reply", "query_style": s})
    return specs


def _plan(records: list[dict], mode: str, voices: int, renderer, plan: VoicePlan) -> list[dict]:
    clips = []
    repeated = Counter()
    for record in records:
        chosen: dict[str, set] = {}  # style -> voices used so far for this record, in polytone
        query_voice: dict[str, str] = {}
        for spec in _clip_specs(record, mode, voices):
            clip = {**spec, "record_id": record["id"], "split": record.get("split", "test"), "voice": None,
                    "voice_key": None, "error": None}
            try:
                if not isinstance(spec["text"], str) or not spec["text"].strip():
                    raise ValueError(f"no text to speak for the {spec['kind']} of {spec['query_style']}")
                if not spec["style"]:
                    raise ValueError(f"no style for the {spec['kind']} of {spec['query_style']}")
                allowed = plan.allowed_for(spec["style"], clip["split"])
                if mode == "polytone":
                    avoid = chosen.setdefault(spec["style"], set())
                elif spec["kind"] == "reply":
                    avoid = {query_voice.get(spec["query_style"])}  # the responder is not the user
                else:
                    avoid = set()
                key, voice = pick_voice_key(renderer, spec["style"], spec["base_key"], allowed, avoid)
                if mode == "polytone":
                    if voice in avoid:
                        repeated[spec["style"]] += 1
                    avoid.add(voice)
                if spec["kind"] == "query":
                    query_voice[spec["query_style"]] = voice
                clip.update(voice_key=key, voice=voice)
            except Exception as e:  # noqa: BLE001 - the clip fails with its reason
                clip["error"] = f"{type(e).__name__}: {e}"
            clips.append(clip)
    if repeated:
        logger.warning("fewer voices than voices_per_style=%d for %s (after the voice split): some texts repeat a "
                       "voice in a style", voices, ", ".join(f"{s} ({n} clips)" for s, n in sorted(repeated.items())))
    return clips


def _drop_key(reason: str) -> str:
    """The summary's bucket of a failure reason: its first part (the exception type or the short cause)."""
    return "render failed: " + reason.split(":", 1)[0].strip()


def _render_one(renderer, clip: dict, audio_dir: str, work_path: str) -> dict:
    line = {"id": clip["id"], "record_id": clip["record_id"], "kind": clip["kind"], "style": clip["style"],
            "voice": clip["voice"], "file_name": None, "renderer": getattr(renderer, "name", type(renderer).__name__),
            "seconds": None, "status": "failed", "reason": ""}
    if clip["error"]:
        line["reason"] = clip["error"][:_REASON_CHARS]
        return line
    try:
        # the clip id comes from the record's id and styles in generated.jsonl: the file must stay in audio/
        path = resolve_inside(audio_dir, f"{clip['id']}.flac", what="the clip's file name")
        audio = renderer.render(clip["text"], clip["style"], clip["voice_key"])
        if audio.is_silent:
            raise ValueError("SilentAudio: the renderer returned silence")
        write_atomic(path, audio.to_bytes())
    except Exception as e:  # noqa: BLE001 - one clip's failure is recorded, never a crash
        reason = str(e) if str(e).startswith("SilentAudio:") else f"{type(e).__name__}: {e}"
        line["reason"] = reason[:_REASON_CHARS]
        return line
    line.update(file_name=os.path.relpath(path, work_path).replace(os.sep, "/"), seconds=round(audio.duration, 3),
                status="ok")
    return line


def run_render(work: WorkDir, config: RenderConfig, renderer=None, *, overwrite: bool = False,
               repair: bool = False) -> dict:
    """Render the kept texts of a work folder (see the module docstring).

    Args:
        work (`WorkDir`): the build's folder, with generate and filter done.
        config (`RenderConfig`): the stage's settings.
        renderer (*optional*): a renderer object to use instead of building `config.renderer` (tests, custom
            backends); its `name` is recorded.
        overwrite (`bool`, *optional*, defaults to `False`): redo the stage (and drop the later stages' output) when
            it ran here with other settings; otherwise such a run is refused.
        repair (`bool`, *optional*, defaults to `False`): move the damaged lines of the stage files read here (not
            JSON, or a record without the fields the stages need) to `<file>.rejected`, keep the rest and redo their
            items, instead of refusing them (see `WorkDir`).

    Returns:
        `dict`: the stage summary (`in`: clips planned, `out`: clips rendered, `dropped`: failed clips by reason).
    """
    from ..progress import progress

    work = work.repairing(repair)
    mode = work.mode()
    voices = config.voices_per_style
    if mode == "polytone":
        voices = voices or DEFAULT_POLYTONE_VOICES
    elif voices not in (None, 1):
        raise ValueError(f"voices_per_style={voices} applies to polytone mode only; this build is in {mode} mode, "
                         f"which renders one clip per style (set 1 or leave it unset).")
    else:
        voices = 1
    if renderer is None:
        from ..render.resolve import resolve_renderer

        renderer = resolve_renderer(config.renderer, **config.renderer_kwargs)
    records = _kept_records(work)
    styles = set()
    for record in records:
        styles.update(record.get("styles") or ())
        if mode == "sft":
            styles.update(e.get("reference_reply_style") for e in (record.get("per_style") or {}).values()
                          if isinstance(e, dict) and e.get("reference_reply_style"))
    plan = VoicePlan(renderer, styles, config.voice_split)
    settings = {**config.settings(), "voices_per_style": voices, "mode": mode,
                "renderer_name": getattr(renderer, "name", type(renderer).__name__),
                "voice_split_effective": plan.effective, "voice_split_note": plan.note,
                "voice_split_unavailable": plan.unavailable, "split_voices": plan.split_voices}
    work.begin("render", settings, overwrite=overwrite)

    clips = _plan(records, mode, voices, renderer, plan)
    done = {line["id"]: line for line in work.read("render")}
    lost = [i for i, line in done.items() if line["status"] == "ok" and not os.path.isfile(work.clip_path(line))]
    if lost:  # a clip whose file is gone is rendered again (then `build verify` checks the new file)
        logger.warning("render: %d clip(s) recorded as rendered have no audio file (e.g. %s); rendering them again",
                       len(lost), lost[0])
        for i in lost:
            del done[i]
    summary = StageSummary("render")
    pending = summary.resume(clips, done, "ok", lambda line: _drop_key(line.get("reason") or "unknown"))

    log = work.log("render")
    audio_dir = work.audio_dir()
    bar = progress(total=len(pending), desc=f"render ({getattr(renderer, 'name', 'renderer')})", unit="clip",
                   off=not pending)

    def finish(line: dict) -> None:
        log.append(line)
        if line["status"] == "ok":
            summary.items_out += 1
        else:
            summary.dropped[_drop_key(line["reason"])] += 1
        bar.update(1)

    if config.num_workers == 1:  # in this thread: local models and espeak-ng's forks need no threads
        for clip in pending:
            finish(_render_one(renderer, clip, audio_dir, work.path))
    else:
        with ThreadPoolExecutor(max_workers=config.num_workers) as pool:
            for line in pool.map(lambda c: _render_one(renderer, c, audio_dir, work.path), pending):
                finish(line)
    bar.close()
    return work.record_summary(summary)
