"""The dataset card (`README.md`) of a build export: YAML header, how the data was built, the run summary, and
honest notes on what the audio is.

The YAML header's `configs` point at the Parquet shards, so `load_dataset("user/name")` and the Hub's viewer read
them; its `dataset_info` comes from the export's `Features`.
"""

from __future__ import annotations

import json
from collections import Counter

import yaml

from ..constants import DIMENSIONS, STYLES

_MODE_WORDS = {
    "benchmark": "ParaS2SBench-style benchmark pairs: the same neutral text spoken in two contrasting styles, so "
                 "that a fitting spoken reply depends on how the query is said",
    "polytone": "PolyTone-style style-analyzer training data: the same text spoken in every style of a dimension "
                "by several voices",
    "sft": "SFT demonstrations: a spoken query in a style plus its reference reply, rendered in the reply's "
           "speaking style, with the target text in the `[style: <reply style>] <reply text>` format",
}
_MODE_TASKS = {
    "benchmark": ["audio-to-audio", "audio-classification"],
    "polytone": ["audio-classification"],
    "sft": ["audio-to-audio", "automatic-speech-recognition"],
}
_STAGE_KEYS = ("generate", "filter", "render", "verify", "export")


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


def yaml_header(rows: list[dict], mode: str, shards: dict[str, list[str]] | None, features=None) -> str:
    """The card's YAML header: configs over the Parquet shards (when written), features, tags."""
    import datasets

    dims = sorted({r["dimension"] for r in rows}, key=lambda d: DIMENSIONS.index(d) if d in DIMENSIONS else 99)
    header = {
        "pretty_name": f"ParaS2S {mode} data ({', '.join(dims)})",
        "language": ["en"],
        "license": "unknown",
        "task_categories": _MODE_TASKS[mode],
        "tags": ["speech-to-speech", "paralinguistics", "synthetic", "parass2s", f"parass2s-{mode}", *dims],
        "size_categories": [_size_category(len(rows))],
    }
    if shards:
        header["configs"] = [{
            "config_name": "default",
            "data_files": [{"split": split, "path": f"{files[0].rsplit('/', 1)[0]}/{split}-*.parquet"}
                           for split, files in shards.items()],
        }]
        if features is not None:
            counts = Counter(r["split"] for r in rows)
            info = datasets.DatasetInfo(
                features=features,
                splits=datasets.SplitDict({s: datasets.SplitInfo(s, num_examples=counts[s]) for s in shards}),
            )
            entry = info._to_yaml_dict()
            entry.pop("config_name", None)
            header["dataset_info"] = entry
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=120) + "---\n"


def _fmt(value) -> str:
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value, ensure_ascii=False) + "`"
    return f"`{value}`"


def settings_markdown(settings: dict) -> str:
    """One bullet per stage with the settings it ran with (from `build.json`)."""
    lines = []
    for stage in _STAGE_KEYS[:-1]:
        values = settings.get(stage)
        if not values:
            lines.append(f"- **{stage}**: not recorded")
            continue
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items() if v not in (None, "", [], {}))
        lines.append(f"- **{stage}**: {shown or 'defaults'}")
    return "\n".join(lines)


def summary_markdown(summary: dict) -> str:
    """The run summary as a table: per stage, items in, out, dropped (by reason) and already done."""
    lines = ["| stage | in | out | dropped | dropped by reason | already done |", "|---|---|---|---|---|---|"]
    for stage in _STAGE_KEYS:
        s = summary.get(stage)
        if not s:
            continue
        reasons = "; ".join(f"{reason}: {n}" for reason, n in sorted(s.get("dropped", {}).items(),
                                                                      key=lambda kv: (-kv[1], kv[0]))) or "-"
        dropped = s.get("dropped_total", sum(s.get("dropped", {}).values()))
        lines.append(f"| {stage} | {s.get('in', 0)} | {s.get('out', 0)} | {dropped} | {reasons.replace('|', '/')} | "
                     f"{s.get('already_done', 0)} |")
    return "\n".join(lines)


def contents_markdown(rows: list[dict], mode: str) -> str:
    """Rows, clips and hours per split, dimension and style."""
    rows_by = Counter((r["split"], r["dimension"], r["style"]) for r in rows)
    seconds_by = Counter()
    for r in rows:
        seconds_by[(r["split"], r["dimension"], r["style"])] += float(r.get("seconds") or 0.0)
    what = {"benchmark": "utterances", "polytone": "clips", "sft": "query + reply pairs"}[mode]
    lines = [f"| split | dimension | style | {what} | hours |", "|---|---|---|---|---|"]

    def order(key):
        split, dim, style = key
        styles = STYLES.get(dim, ())
        return (0 if split == "test" else 1, DIMENSIONS.index(dim) if dim in DIMENSIONS else 99,
                styles.index(style) if style in styles else 99, style)

    for key in sorted(rows_by, key=order):
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {rows_by[key]} | {seconds_by[key] / 3600:.3f} |")
    total_rows = Counter(r["split"] for r in rows)
    total_hours = Counter()
    for r in rows:
        total_hours[r["split"]] += float(r.get("seconds") or 0.0) / 3600
    for split in ("test", "train"):
        if total_rows[split]:
            lines.append(f"| **{split}** | all | all | {total_rows[split]} | {total_hours[split]:.3f} |")
    if mode == "sft":
        reply = Counter((r["split"], r["reply_style"]) for r in rows)
        lines += ["", "Reply styles: " + ", ".join(f"{split} {style} ({n})" for (split, style), n in sorted(reply.items()))]
    return "\n".join(lines)


def _layout(mode: str, shards: dict) -> str:
    parquet = ("- `parquet/<split>-00000-of-0000N.parquet`: the same rows with the audio bytes embedded (what the "
               "`configs` above point at: `load_dataset(\"<user>/<name>\")`).\n" if shards else "")
    if mode == "benchmark":
        return ("The `data_dir` layout of parass2s_hf's ParaS2SBench builder:\n\n"
                "- `metadata.jsonl`: one line per utterance, the benchmark row's fields plus `file_name` (relative to "
                "this folder);\n- `audio/<split>/<id>.flac`: the spoken queries, beside "
                "`audio/<split>/metadata.jsonl` (the same rows, for `load_dataset(\"audiofolder\", data_dir=...)`).\n" + parquet +
                "\n```python\nimport parass2s_hf, datasets\n"
                "ds = datasets.load_dataset(\"parass2sbench\", \"<dimension>\", data_dir=\"<this folder>\", "
                "split=\"test\")\n```\n\nEvery pair keeps both of its styles: a pair that lost one style in an "
                "earlier stage was dropped whole.")
    columns = ("`audio` (the query) and `reply` (the reference reply, spoken in its style), plus `target` "
               "(`[style: <reply style>] <reply text>`)" if mode == "sft" else "`audio` plus the labels")
    return ("An `audiofolder`: `<split>/metadata.jsonl` (with `file_name`" + (" and `reply_file_name`" if mode == "sft"
            else "") + " relative to the split folder) beside the FLAC files. Columns: " + columns + ".\n" + parquet +
            "\n```python\nimport datasets\nds = datasets.load_dataset(\"audiofolder\", data_dir=\"<this folder>\")\n```")


def _disjoint_note(rows: list[dict]) -> str:
    from .export import shared_between_splits

    if len({r["split"] for r in rows}) < 2:
        return f"One split only ({rows[0]['split'] if rows else 'none'})."
    _, voices = shared_between_splits(rows)
    if voices:
        return (f"Train and test share no topic (checked at export), but they share {len(voices)} voice(s) "
                f"({', '.join(voices)}): the renderer's voices could not be split, so a model trained on train is "
                f"tested on voices it heard.")
    return "Train and test share no topic and no voice (checked at export)."


def human_check_note(checked: dict) -> str:
    """The card's note on the listeners' check (the export summary's `human_check`)."""
    reasons = "; ".join(f"{why}: {n}" for why, n in checked.get("rejected_by_reason", {}).items())
    return (f"- **Checked by listeners.** {checked.get('records_checked', 0)} record(s) were heard by "
            f"{len(checked.get('raters', []))} listener(s); {checked.get('records_rejected', 0)} rejected"
            + (f" ({reasons})" if reasons else "") + " and left out. Records no one heard were not checked by a "
            f"person (decision files' fingerprint `{checked.get('fingerprint', '')}`).")


def export_card(rows: list[dict], mode: str, summary: dict, settings: dict, *, shards: dict | None = None,
                features=None) -> str:
    """The dataset card of an export.

    Args:
        rows (`list[dict]`): the exported metadata rows (`split`, `dimension`, `style`, ... and `seconds`, the audio
            duration of the row).
        mode (`str`): `"benchmark"`, `"polytone"` or `"sft"`.
        summary (`dict`): the run summary (`WorkDir.summary()` plus the export's own).
        settings (`dict`): each stage's settings (`WorkDir.settings(stage)`), keyed by stage.
        shards (`dict[str, list[str]]`, *optional*): the Parquet shards per split, relative to the folder.
        features (`datasets.Features`, *optional*): the rows' features, for the YAML header.

    Returns:
        `str`: the card (`README.md`).
    """
    shards = shards or {}
    dims = sorted({r["dimension"] for r in rows}, key=lambda d: DIMENSIONS.index(d) if d in DIMENSIONS else 99)
    renderers = sorted({r.get("source", "") for r in rows if r.get("source")})
    seconds = sum(float(r.get("seconds") or 0.0) for r in rows)
    render = settings.get("render") or {}
    voices = sorted({v for r in rows for v in (r.get("voice"), r.get("reply_voice")) if v})
    notes = [
        ("- **Synthetic speech.** Every clip was produced by a text-to-speech system "
         f"({', '.join(renderers) or 'unknown'}), not recorded from people; models evaluated or trained on it may "
         "behave differently on real speech."),
    ]
    if "espeak-ng" in renderers or "espeak-ng" in json.dumps(render):
        notes.append("- **espeak-ng is not emotional speech.** It renders real, controllable contrasts of pitch, rate, "
                     "loudness and voice, mapped from each style by a fixed table, but a listener would not hear the "
                     "clips as genuinely happy, sarcastic or child speech. Use it for pipelines, tests and demos; "
                     "render with an expressive TTS for results.")
    if mode == "benchmark":
        for dim in dims:
            if not any(r["dimension"] == dim and r["split"] == "test" for r in rows):
                notes.append(f"- **No {dim} test rows.** Every {dim} test pair was dropped in an earlier stage: the "
                             f"`{dim}` config has a `train` split only.")
    checked = (summary.get("export") or {}).get("human_check")
    notes += [
        ("- **Texts are LLM-generated** and screened by an LLM for neutrality, plausibility and relevance; ASR "
         "verification checks the words, not whether the style comes across."),
        *([human_check_note(checked)] if checked else []),
        "- **License: unknown** (placeholder). Set it from the licenses of the generating LLM, the TTS and its voices.",
    ]
    parts = [
        yaml_header(rows, mode, shards, features),
        f"# ParaS2S {mode} data: {', '.join(dims)}\n",
        (f"{_MODE_WORDS[mode]}. Built with `parass2s build` (parass2s_hf), following the construction pipeline of "
         "ParaS2S (arXiv 2511.08723): an LLM writes neutral texts for contrasting styles, an LLM filters them, a TTS "
         "renders each style, ASR verifies the words, and this export keeps what survived.\n"),
        (f"- mode: `{mode}`\n- dimension(s): {', '.join(dims)}\n- renderer(s): {', '.join(renderers) or 'unknown'}\n"
         f"- voices: {len(voices)}\n- rows: {len(rows)}; audio: {seconds / 3600:.3f} hours\n"),
        "## How it was built\n",
        settings_markdown(settings) + "\n",
        "## Contents\n",
        contents_markdown(rows, mode) + "\n",
        _disjoint_note(rows) + "\n",
        "## Layout\n",
        _layout(mode, shards) + "\n",
        "## Run summary\n",
        ("Per stage: items in, items out, and items dropped by reason (nothing disappears unaccounted). Generate and "
         "filter count texts; render, verify and export count clips.\n"),
        summary_markdown(summary) + "\n",
        "## Notes and limitations\n",
        "\n".join(notes) + "\n",
    ]
    return "\n".join(parts)


__all__ = ["contents_markdown", "export_card", "human_check_note", "settings_markdown", "summary_markdown",
           "yaml_header"]
