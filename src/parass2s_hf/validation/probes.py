"""Probes of a judge's known failure modes, on benchmark rows with responses rendered for the purpose.

Each probe takes a judge (`ParaS2SJudge`, or any object with `score(items) -> list[JudgeResult]`), a renderer
(`parass2s_hf.get_renderer("espeak-ng")`) and benchmark rows (dicts with `audio`, `text`, `dimension`, `style`,
`requirement`, `reference_reply`, `reference_reply_style`), and returns a dict of rates and mean differences:

- `style_hallucination_probe`: the same reply words spoken in two contrasting reply styles (default cheerful vs
  sympathetic) should change the judge's perceived tone (`perception["response_tone"]`) and its score; different words
  spoken in one style should not change the perceived tone. The paper's point: an end-to-end audio LLM "hears" style
  in the words;
- `position_bias_probe`: the same pair judged with the two clips swapped (the response in the query's place): the
  mean score difference and how often the two scores agree (meant for the `end2end` mode);
- `length_bias_probe`: the same reply alone and padded with a neutral filler sentence: the mean score difference and
  the correlation between response duration and score.

Every response is spoken by one voice (`voice_key`), so only the words or the style change within a pair. A judge that
gives no score for a clip (status `missing`) is counted as missing, never given a number; a judge that gives no tone
description has no tone rates, with a note saying why.

```python
>>> from parass2s_hf import JudgeConfig, ParaS2SJudge, get_renderer, load_parass2sbench
>>> from parass2s_hf.validation import probe_rows, run_probes
>>> rows = probe_rows(load_parass2sbench("sample", split="test"), 8)
>>> out = run_probes(ParaS2SJudge(JudgeConfig(mode="end2end")), get_renderer("espeak-ng"), rows)
>>> out["position_bias"]["agreement_rate"], out["style_hallucination"]["contrasting_styles"]["score_changed_rate"]
```
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from ..audio import load_audio
from ..constants import DIMENSIONS, REPLY_STYLES, SAMPLING_RATE
from ..judge.items import STATUS_OK, JudgeItem
from .stats import _round, correlation

PROBES = ("style_hallucination", "position_bias", "length_bias")
DEFAULT_CONTRAST = ("cheerful", "sympathetic")
"""Two reply styles far apart in pitch, rate and loudness (see `parass2s_hf.render.STYLE_PROSODY`)."""
DEFAULT_FILLER = "Let me think about how best to put this."
"""A sentence that adds length but no content or tone."""
DEFAULT_OTHER_WORDS = "I see what you mean, and I will keep that in mind from now on."
"""Other words for the same-style comparison when the rows offer no second reply."""
VOICE_KEY = "parass2s-probe"
"""The responder's voice key: one voice for every probe clip."""


class _CachedRenderer:
    """A renderer that renders each (text, style, voice key) once: the probes share clips."""

    def __init__(self, renderer):
        self.renderer = renderer
        self.name = getattr(renderer, "name", type(renderer).__name__)
        self._clips: dict = {}

    def render(self, text: str, style: str, voice_key: str = ""):
        key = (text, style, voice_key)
        if key not in self._clips:
            self._clips[key] = self.renderer.render(text, style, voice_key=voice_key)
        return self._clips[key]


def _cached(renderer):
    return renderer if isinstance(renderer, _CachedRenderer) else _CachedRenderer(renderer)


def probe_rows(dataset, n: int = 8) -> list[dict]:
    """`n` benchmark rows for the probes, taken in turn from each dimension, with their audio loaded.

    Args:
        dataset (`datasets.Dataset` or `list[dict]`): ParaS2SBench rows; rows without a reference reply (real-corpus
            rows) are skipped.
        n (`int`, *optional*, defaults to `8`): how many rows.

    Returns:
        `list[dict]`: the rows, `audio` as `{"array", "sampling_rate"}` (16 kHz mono, through the audio door).
    """
    if n < 1:
        raise ValueError(f"the probes need at least 1 row, got {n}.")
    columns = getattr(dataset, "column_names", None)
    meta = (dataset.select_columns([c for c in columns if c != "audio"]).to_list() if columns is not None
            else [{k: v for k, v in row.items() if k != "audio"} for row in dataset])
    queues: dict = {}
    for i, row in enumerate(meta):
        if row.get("reference_reply") and row.get("reference_reply_style"):
            queues.setdefault(row.get("dimension"), []).append(i)
    order = [d for d in DIMENSIONS if d in queues] + [d for d in queues if d not in DIMENSIONS]
    chosen = []
    while len(chosen) < n and any(queues[d] for d in order):
        for d in order:
            if queues[d] and len(chosen) < n:
                chosen.append(queues[d].pop(0))
    if not chosen:
        raise ValueError("no row has a reference reply and its style: the probes need synthetic ParaS2SBench rows.")
    rows = []
    for i in chosen:
        audio = load_audio(dataset[i]["audio"], name=f"query {meta[i].get('id', i)}")
        rows.append({**meta[i], "audio": {"array": audio.array, "sampling_rate": audio.sampling_rate}})
    return rows


def _check(judge_field: str, rows) -> list:
    if judge_field not in ("score", "score_expected"):
        raise ValueError(f"judge_field must be 'score' or 'score_expected', got {judge_field!r}.")
    rows = list(rows)
    if not rows:
        raise ValueError("a probe needs at least 1 benchmark row.")
    lacking = sorted({k for row in rows for k in ("audio", "reference_reply", "reference_reply_style")
                      if row.get(k) is None or (isinstance(row.get(k), str) and not row[k].strip())})
    if lacking:
        raise ValueError(f"probe rows need audio, reference_reply and reference_reply_style; some lack {lacking} "
                         f"(use probe_rows(dataset) on a synthetic ParaS2SBench config).")
    return rows


def _query(row: Mapping):
    audio = load_audio(row["audio"], name=f"query {row.get('id', '?')}")
    return audio.array


def _item(row: Mapping, query, response, tag: str, *, query_text=None) -> JudgeItem:
    return JudgeItem(query_audio=query, response_audio=response, sampling_rate=SAMPLING_RATE,
                     dimension=row.get("dimension") if row.get("dimension") in DIMENSIONS else None,
                     query_style=row.get("style") or None,
                     query_text=query_text if query_text is not None else (row.get("text") or None),
                     requirement=row.get("requirement") or None, item_id=f"{row.get('id', '?')}:{tag}")


def _score_all(judge, items: list[JudgeItem]) -> list:
    results = list(judge.score(items))
    if len(results) != len(items):
        raise ValueError(f"the judge returned {len(results)} results for {len(items)} items.")
    return results


def _value(result, field: str) -> float | None:
    value = getattr(result, field, None)
    if getattr(result, "status", STATUS_OK) != STATUS_OK or value is None:
        return None
    return float(value)


def _tone(result) -> str | None:
    tone = (getattr(result, "perception", None) or {}).get("response_tone")
    text = " ".join(str(tone).lower().split()) if tone is not None else ""
    return text or None


def _missing(results, field: str) -> dict:
    unscored = [r for r in results if _value(r, field) is None]
    reasons = Counter("".join(c if c.isprintable() else "?" for c in
                              (getattr(r, "reason", "") or getattr(r, "status", "") or "no score")[:200])
                      for r in unscored)
    return {"missing_scores": len(unscored), "missing_reasons": [f"{n} x {reason}" for reason, n in
                                                                  reasons.most_common(5)]}


def _mean(values) -> float | None:
    values = list(values)
    return _round(np.mean(values)) if values else None


def _judge_mode(judge) -> str | None:
    return getattr(getattr(judge, "config", None), "mode", None)


def _compare(a_results, b_results, field: str) -> dict:
    """Tone and score changes between paired results."""
    tones = [(_tone(a), _tone(b)) for a, b in zip(a_results, b_results)]
    tones = [(a, b) for a, b in tones if a is not None and b is not None]
    scores = [(_value(a, field), _value(b, field)) for a, b in zip(a_results, b_results)]
    scores = [(a, b) for a, b in scores if a is not None and b is not None]
    return {"pairs": len(a_results),
            "tone_pairs": len(tones), "tone_changed_rate": _mean(a != b for a, b in tones),
            "score_pairs": len(scores), "score_changed_rate": _mean(a != b for a, b in scores),
            "mean_score_difference": _mean(a - b for a, b in scores),
            "mean_abs_score_difference": _mean(abs(a - b) for a, b in scores)}


def style_hallucination_probe(judge, renderer, rows: Sequence[Mapping], *,
                              contrast: tuple[str, str] = DEFAULT_CONTRAST, judge_field: str = "score",
                              voice_key: str = VOICE_KEY) -> dict:
    """Does the judge hear the reply's style from the voice, not the words?

    For each row, its reference reply is spoken in `contrast[0]` and in `contrast[1]` (same words, contrasting
    styles), and another row's reference reply is spoken in `contrast[0]` (different words, one style); each response
    is judged against the row's query.

    Args:
        judge: a `ParaS2SJudge` or any object with `score(items) -> list[JudgeResult]`.
        renderer: a renderer (`get_renderer("espeak-ng")`).
        rows (`list[dict]`): benchmark rows (`probe_rows`).
        contrast (`tuple[str, str]`, *optional*, defaults to `("cheerful", "sympathetic")`): two reply styles.
        judge_field (`str`, *optional*, defaults to `"score"`): `score` or `score_expected`.
        voice_key (`str`, *optional*): the responder's voice.

    Returns:
        `dict`: `contrasting_styles` and `same_style_different_words`, each with `pairs`, `tone_changed_rate` (the share
        of pairs with a tone description on both sides whose descriptions differ; `None` when no pair has them),
        `tone_pairs`, `score_changed_rate`, `score_pairs`, `mean_score_difference` (first minus second),
        `mean_abs_score_difference`; `missing_scores`, `missing_reasons`, `notes`. A judge that hears style from the
        voice has a high tone change rate for contrasting styles and a low one for different words.
    """
    unknown = [s for s in contrast if s not in REPLY_STYLES]
    if len(contrast) != 2 or unknown or contrast[0] == contrast[1]:
        raise ValueError(f"contrast must be two different reply styles from {list(REPLY_STYLES)}, got {contrast!r}.")
    rows = _check(judge_field, rows)
    renderer = _cached(renderer)
    first, second = contrast
    replies = [row["reference_reply"] for row in rows]
    items = []
    for i, row in enumerate(rows):
        query = _query(row)
        other = next((replies[(i + k) % len(rows)] for k in range(1, len(rows))
                      if replies[(i + k) % len(rows)] != replies[i]), DEFAULT_OTHER_WORDS)
        for tag, text, style in (("a", replies[i], first), ("b", replies[i], second), ("other", other, first)):
            clip = renderer.render(text, style, voice_key=voice_key).array
            items.append(_item(row, query, clip, f"style-{tag}"))
    results = _score_all(judge, items)
    a, b, other = results[0::3], results[1::3], results[2::3]
    out = {"probe": "style_hallucination", "judge_mode": _judge_mode(judge), "judge_field": judge_field,
           "styles": list(contrast), "rows": len(rows),
           "contrasting_styles": _compare(a, b, judge_field),
           "same_style_different_words": {**_compare(a, other, judge_field), "style": first},
           **_missing(results, judge_field), "missing_tone": sum(_tone(r) is None for r in results), "notes": []}
    if out["contrasting_styles"]["tone_pairs"] == 0:
        out["notes"].append("no response tone description: the judge gives no `response_tone` perception (only the "
                            "multistage mode describes the response's tone); the tone rates are undefined.")
    if out["contrasting_styles"]["score_pairs"] == 0:
        out["notes"].append(f"no pair has two {judge_field}s: the score rates are undefined.")
    return out


def position_bias_probe(judge, renderer, rows: Sequence[Mapping], *, judge_field: str = "score",
                        voice_key: str = VOICE_KEY) -> dict:
    """Does the judge's score depend on which clip comes first?

    For each row, its reference reply is spoken in its reference style and judged twice: as (query, response) and
    with the two clips swapped (the response in the query's place, with the reply's words as the query text).

    Returns:
        `dict`: `pairs` (rows), `score_pairs` (rows with both scores), `mean_score_difference` (original minus
        swapped), `mean_abs_score_difference`, `agreement_rate` (share of score pairs with equal scores),
        `missing_scores`, `missing_reasons`, `judge_mode`, `notes`.
    """
    rows = _check(judge_field, rows)
    renderer = _cached(renderer)
    items = []
    for row in rows:
        query = _query(row)
        reply = renderer.render(row["reference_reply"], row["reference_reply_style"], voice_key=voice_key).array
        items.append(_item(row, query, reply, "original"))
        items.append(_item(row, reply, query, "swapped", query_text=row["reference_reply"]))
    results = _score_all(judge, items)
    scores = [(_value(o, judge_field), _value(s, judge_field)) for o, s in zip(results[0::2], results[1::2])]
    scores = [(o, s) for o, s in scores if o is not None and s is not None]
    mode = _judge_mode(judge)
    out = {"probe": "position_bias", "judge_mode": mode, "judge_field": judge_field, "pairs": len(rows),
           "score_pairs": len(scores), "mean_score_difference": _mean(o - s for o, s in scores),
           "mean_abs_score_difference": _mean(abs(o - s) for o, s in scores),
           "agreement_rate": _mean(o == s for o, s in scores), **_missing(results, judge_field), "notes": []}
    if mode is not None and mode != "end2end":
        out["notes"].append(f"the judge runs in {mode} mode; position bias is a question for the end2end mode, where "
                            "one model hears both clips in order.")
    if not scores:
        out["notes"].append(f"no row has both {judge_field}s: the difference and agreement are undefined.")
    return out


def length_bias_probe(judge, renderer, rows: Sequence[Mapping], *, filler: str = DEFAULT_FILLER,
                      judge_field: str = "score", voice_key: str = VOICE_KEY, **bootstrap) -> dict:
    """Does a longer reply score higher for its length alone?

    For each row, its reference reply is spoken in its reference style as it is (short) and with `filler` before it
    (padded); both are judged against the row's query.

    Args:
        filler (`str`, *optional*): the neutral sentence added; defaults to `DEFAULT_FILLER`.
        bootstrap: `confidence`, `n_resamples`, `seed`, `method` of the correlation's interval (see `correlation`).

    Returns:
        `dict`: `pairs`, `score_pairs`, `mean_score_difference` (padded minus short), `padded_higher_rate`,
        `padded_lower_rate`, `mean_seconds_short`, `mean_seconds_padded`, `duration_score_correlation` (Pearson over
        every scored response, short and padded, as a `correlation` cell), `missing_scores`, `missing_reasons`,
        `notes`.
    """
    if not filler.strip():
        raise ValueError("filler must be a sentence, got an empty string.")
    rows = _check(judge_field, rows)
    renderer = _cached(renderer)
    items, seconds = [], []
    for row in rows:
        query = _query(row)
        style = row["reference_reply_style"]
        for tag, text in (("short", row["reference_reply"]), ("padded", f"{filler.strip()} {row['reference_reply']}")):
            clip = renderer.render(text, style, voice_key=voice_key).array
            items.append(_item(row, query, clip, tag))
            seconds.append(len(clip) / SAMPLING_RATE)
    results = _score_all(judge, items)
    values = [_value(r, judge_field) for r in results]
    pairs = [(s, p) for s, p in zip(values[0::2], values[1::2]) if s is not None and p is not None]
    scored = [(sec, v) for sec, v in zip(seconds, values) if v is not None]
    out = {"probe": "length_bias", "judge_mode": _judge_mode(judge), "judge_field": judge_field, "filler": filler,
           "pairs": len(rows), "score_pairs": len(pairs), "mean_score_difference": _mean(p - s for s, p in pairs),
           "padded_higher_rate": _mean(p > s for s, p in pairs), "padded_lower_rate": _mean(p < s for s, p in pairs),
           "mean_seconds_short": _mean(seconds[0::2]), "mean_seconds_padded": _mean(seconds[1::2]),
           "duration_score_correlation": correlation([s for s, _ in scored], [v for _, v in scored], "pearson",
                                                     labels=("durations", "judge scores"), **bootstrap),
           **_missing(results, judge_field), "notes": []}
    if not pairs:
        out["notes"].append(f"no row has both {judge_field}s: the difference is undefined.")
    return out


def run_probes(judge, renderer, rows: Sequence[Mapping], probes: Sequence[str] = PROBES, *,
               judge_field: str = "score", contrast: tuple[str, str] = DEFAULT_CONTRAST, filler: str = DEFAULT_FILLER,
               voice_key: str = VOICE_KEY, **bootstrap) -> dict:
    """Run the chosen probes on the same rows, sharing rendered clips.

    Returns:
        `dict`: `rows` (their ids), `renderer`, `judge` (mode and fingerprint, where the judge has a config), and one
        entry per probe.
    """
    unknown = [p for p in probes if p not in PROBES]
    if unknown:
        raise ValueError(f"unknown probe(s) {unknown}; expected some of {list(PROBES)}.")
    rows = _check(judge_field, rows)
    renderer = _cached(renderer)
    config = getattr(judge, "config", None)
    out = {"rows": [row.get("id") for row in rows], "renderer": renderer.name,
           "judge": {"mode": getattr(config, "mode", None),
                     "fingerprint": config.fingerprint() if hasattr(config, "fingerprint") else None},
           "voice_key": voice_key}
    if "style_hallucination" in probes:
        out["style_hallucination"] = style_hallucination_probe(judge, renderer, rows, contrast=contrast,
                                                               judge_field=judge_field, voice_key=voice_key)
    if "position_bias" in probes:
        out["position_bias"] = position_bias_probe(judge, renderer, rows, judge_field=judge_field, voice_key=voice_key)
    if "length_bias" in probes:
        out["length_bias"] = length_bias_probe(judge, renderer, rows, filler=filler, judge_field=judge_field,
                                               voice_key=voice_key, **bootstrap)
    return out
