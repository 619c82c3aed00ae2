"""The ParaS2SBench dataset card, generated so that it cannot drift from the code.

```
python -m parass2s_hf.bench.card                 # write dataset_card/README.md
python -m parass2s_hf.bench.card --check         # exit 1 if the file is out of date (a test runs this)
python -m parass2s_hf.bench.card --measure       # render the text layer with espeak-ng to refresh the hours
```

The YAML header comes from the one `Features` object and the configs; the statistics from the text layer; the
hours from `data/render_stats.json`, which `--measure` writes (it renders every text, about two minutes), keyed by
the text layer's hash so that a changed text layer with stale hours fails the check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from importlib import resources

import datasets
import yaml

from ..constants import DIMENSIONS, REPLY_STYLES, STYLES
from ..render.styles import prosody_table_markdown
from .features import FEATURES, FIELD_DESCRIPTIONS, ROW_FIELDS
from .parass2s_bench import _CITATION, BUILDER_CONFIGS
from .real_corpora import EMOTION_REQUIREMENTS
from .text_layer import read_text_layer, text_layer_hash

STATS_FILE = "render_stats.json"
DEFAULT_CARD = os.path.join("dataset_card", "README.md")


def stats_path() -> str:
    return str(resources.files(__package__).joinpath("data", STATS_FILE))


def measure_render_stats(renderer: str = "espeak-ng") -> dict:
    """Render every text of the layer in both styles and sum the audio duration per split and dimension."""
    from tqdm.auto import tqdm

    from ..render import get_renderer
    from .text_layer import record_rows

    tts = get_renderer(renderer)
    seconds = Counter()
    records = read_text_layer()
    for record in tqdm(records, desc=f"rendering with {renderer}", unit="text"):
        for row in record_rows(record):
            seconds[f"{row['split']}/{row['dimension']}"] += tts.render(row["text"], row["style"], row["pair_id"]).duration
    return {"text_layer_sha256": text_layer_hash(), "renderer": renderer,
            "seconds": {k: round(v, 1) for k, v in sorted(seconds.items())}}


def read_render_stats() -> dict | None:
    if not os.path.isfile(stats_path()):
        return None
    with open(stats_path(), encoding="utf-8") as f:
        return json.load(f)


def _counts(records):
    texts = Counter((r["split"], r["dimension"]) for r in records)
    styles = {d: Counter(s for r in records if r["dimension"] == d for s in r["styles"]) for d in DIMENSIONS}
    return texts, styles


def yaml_header(records) -> str:
    texts, _ = _counts(records)
    infos = []
    for cfg in BUILDER_CONFIGS:
        if cfg.kind == "sample":
            splits = {"test": 2 * 6 * len(DIMENSIONS)}
        elif cfg.kind in ("synthetic",):
            splits = {s: 2 * sum(texts[(s, d)] for d in cfg.dimensions) for s in ("test", "train")}
        else:
            splits = {}  # real corpora: counts depend on the user's copy
        info = datasets.DatasetInfo(
            features=FEATURES, config_name=cfg.name,
            splits=datasets.SplitDict({s: datasets.SplitInfo(s, num_examples=n) for s, n in splits.items() if n}),
        )
        entry = info._to_yaml_dict()
        if not splits:
            entry.pop("splits", None)
        infos.append(entry)
    header = {
        "pretty_name": "ParaS2SBench",
        "language": ["en"],
        "license": "cc-by-4.0",
        "task_categories": ["audio-to-audio", "audio-classification"],
        "tags": ["speech-to-speech", "paralinguistics", "emotion", "sarcasm", "spoken-dialogue", "evaluation",
                 "parass2s"],
        "size_categories": ["1K<n<10K"],
        "dataset_info": infos,
    }
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=120) + "---\n"


def statistics_table(records, stats: dict | None) -> str:
    texts, styles = _counts(records)
    seconds = (stats or {}).get("seconds", {})
    fresh = stats is not None and stats.get("text_layer_sha256") == text_layer_hash()
    rows = ["| dimension | styles | test texts | test utterances | train texts | train utterances | hours (test + train, espeak-ng) |",
            "|---|---|---|---|---|---|---|"]
    total = Counter()
    for d in DIMENSIONS:
        hours = (seconds.get(f"test/{d}", 0) + seconds.get(f"train/{d}", 0)) / 3600 if fresh else None
        style_list = ", ".join(f"{s} ({styles[d][s]})" for s in STYLES[d])
        rows.append(f"| {d} | {style_list} | {texts[('test', d)]} | {2 * texts[('test', d)]} | {texts[('train', d)]} | "
                    f"{2 * texts[('train', d)]} | {format(hours, '.2f') if hours is not None else 'not measured'} |")
        total.update({"test": texts[("test", d)], "train": texts[("train", d)], "hours": hours or 0})
    rows.append(f"| **all** | 12 | {total['test']} | {2 * total['test']} | {total['train']} | {2 * total['train']} | "
                f"{format(total['hours'], '.2f') if fresh else 'not measured'} |")
    note = ("Styles: in how many pairs each style takes part. Hours: the duration of every utterance rendered with "
            "espeak-ng (`python -m parass2s_hf.bench.card --measure`).")
    return "\n".join(rows) + "\n\n" + note


def generate_card() -> str:
    records = read_text_layer()
    stats = read_render_stats()
    fields = "\n".join(f"- `{name}`: {FIELD_DESCRIPTIONS[name]}" for name in ROW_FIELDS)
    requirements = "\n".join(f"- {e}: {t}" for e, t in EMOTION_REQUIREMENTS.items())
    configs = "\n".join(f"| `{c.name}` | {c.description} |" for c in BUILDER_CONFIGS)
    body = BODY.format(
        configs=configs, fields=fields, statistics=statistics_table(records, stats),
        prosody=prosody_table_markdown(), reply_styles=", ".join(REPLY_STYLES), requirements=requirements,
        citation=_CITATION.strip(),
    )
    return yaml_header(records) + body


BODY = """
# ParaS2SBench

Spoken queries whose **words are neutral** but whose **speaking style** (emotion, sarcasm, speaker age, speaker
gender) changes what a fitting spoken reply is. The benchmark of *ParaS2S: Benchmarking and Aligning Spoken Language
Models for Paralinguistic-aware Speech-to-Speech Interaction* ([arXiv 2511.08723](https://arxiv.org/abs/2511.08723)),
re-implemented in the open by the `parass2s_hf` package: the paper released neither its data nor its texts.

This card is generated by `python -m parass2s_hf.bench.card`; edit `src/parass2s_hf/bench/card.py`, not this file.

## Dataset Description

Each text is spoken in two contrasting styles (a *pair*): the same words call for a different reply, in content and
in tone, when said happily or fearfully, sincerely or sarcastically, by a child or an adult, by a man or a woman.
A speech-to-speech system hears one utterance and answers with speech; the ParaS2S judge scores how well the reply
fits what was said *and how it was said* (1-5). Every row carries the requirement note the judge reads and a
reference reply with its speaking style.

- **Languages:** English.
- **Dimensions and styles:** emotion (happy, surprised, sad, angry, fear, disgust), sarcasm (sincere, sarcastic),
  age (adult, child), gender (male, female).
- **Real speech:** IEMOCAP and MELD emotional utterances, from your own licensed copies (not redistributed).

### Loading

```python
import parass2s_hf, datasets

ds = datasets.load_dataset("parass2sbench", "sample", split="test")        # shipped, offline
ds = datasets.load_dataset("parass2sbench", "synthetic")                   # rendered locally at prepare time
ds = datasets.load_dataset("parass2sbench", "emotion", data_dir="renders/")   # your own audio (layout below)
ds = datasets.load_dataset("parass2sbench", "iemocap", data_dir="/data/IEMOCAP_full_release")
ds = datasets.load_dataset("parass2sbench", "all", iemocap_dir="...", meld_dir="...")
```

| config | contents |
|---|---|
{configs}

The synthetic configs have a `test` split (the benchmark) and a `train` split (the train pool, for SFT warm-up and
RL prompts; disjoint from test by topic). `iemocap`, `meld` and the real part of `all` are `test` only.

## Dataset Structure

### Data Fields

{fields}

### Statistics

{statistics}

### The `data_dir` layout

To evaluate on audio of your own (a better TTS, human recordings), put the audio files in a folder with a
`metadata.jsonl`: one JSON object per line with the row fields except `audio`, plus `file_name`, a path relative to
the folder that must stay inside it. `split`, `dimension`, `style`, `text` and `id` are required; `pair_id` groups the
two styles of a text, and a pair must have both. Each config keeps the rows of its dimensions. The same folder loads
with `load_dataset("audiofolder", data_dir=...)`. Errors name the line and the file: an unknown dimension or style, a
missing or corrupt audio file, a `file_name` that escapes the folder, a half pair, a duplicate id.

## Dataset Creation

### Texts

The text layer (`src/parass2s_hf/bench/data/text_layer.jsonl`) holds one record per text: id, pair id, split,
dimension, topic, a one-line scenario, the text, the two styles and, for each style, a requirement note (what a fitting
reply does, in content and tone) and a reference reply with its speaking style from the reply-style vocabulary:
{reply_styles}. Texts follow the paper's design rules: neutral words (a lint rejects explicit emotion words, sarcasm
markers, age and gender cues and performative punctuation: `parass2s bench lint`), plausible under
both styles, and the styles call for different replies. Texts were written for this project (the paper's were not
released) by two writers per dimension and reviewed by a different annotator, who read a random 10% of each dimension
and fixed what a careful annotator would reject: see `docs/text_layer_review/` for the process, the counts and the
known limits.

### Audio: espeak-ng, and what it is not

The synthetic configs are rendered locally with espeak-ng (through `espeakng-loader`, about 30 ms a clip,
deterministic). Every style maps to a voice, pitch, pitch range, rate, loudness and SSML emphasis and final pitch
movement:

{prosody}

**espeak-ng is a robotic formant synthesiser, not the expressive TTS of the paper** (gpt-4o-mini-tts for emotion and
sarcasm, CosyVoice voice cloning for age and gender). Its contrasts in pitch, rate, loudness and voice are real and
measurable (the test suite checks that the two styles of every sample pair differ in median F0 or speaking rate by at
least 10%), but it does not sound happy, sad or sarcastic, and its "child" voice is a raised-pitch adult voice.
Scores on espeak-ng renders are **not comparable** with the paper's numbers. Use the `data_dir` layout, or the
construction pipeline's other renderers, for expressive audio.

### Real speech: IEMOCAP and MELD

Not redistributed: request [IEMOCAP](https://sail.usc.edu/iemocap/) from USC SAIL and download
[MELD](https://affective-meld.github.io/), then pass the folders. The paper did not publish its selection (about
709 IEMOCAP and 781 MELD utterances); this implementation applies a documented rule instead:

1. labels map to the six emotions: IEMOCAP hap and exc -> happy, sad, ang -> angry, sur -> surprised, fea -> fear,
   dis -> disgust; MELD joy -> happy, sadness -> sad, anger -> angry, surprise -> surprised, fear, disgust. Neutral
   and other labels (IEMOCAP fru, oth, xxx) are dropped;
2. an utterance is kept only if its transcript passes the text layer's neutrality lint for emotion (3 to 30 words,
   no emotion cue word, no performative punctuation);
3. IEMOCAP: all five sessions; MELD: the test split by default (`meld_splits=`); MELD audio is decoded from the MP4
   clips; the few clips missing from the MELD release are counted and logged.

The counts depend on your copy; `parass2s bench corpora --iemocap DIR --meld DIR` prints what the
rule keeps and drops, by reason. They were not measured for this card: the corpora are licensed and were not
available where it was built. Real rows have no pair, topic, scenario or reference reply; their `requirement` is the
emotion's general note:

{requirements}

## Considerations for Using the Data

- Synthetic speech is not human speech: a system that reads espeak-ng prosody well may still fail on real voices, and
  the reverse. Report which renderer produced the audio (the `source` and `voice` fields).
- Gender items make the speaker's sex matter only where a reply is grounded in it (health screening, clothing
  conventions, reference intakes); the rubric asks for fitting advice, not stereotypes. Age items test child safety
  and appropriateness.
- Texts and requirement notes were written for this project and reflect its authors' judgement of what a fitting
  reply is. They lean British (pounds, GP surgeries); health, legal and sports figures were checked by reading, not
  against sources, and date from 2024-2025.
- Most child-directed reference replies suggest asking a parent or trusted grown-up; a system could score on age items
  by saying so whenever it suspects a child, which the judge's rubric should not reward on its own.

## Licensing Information

Texts, requirement notes and reference replies: CC BY 4.0. espeak-ng renders: generated with espeak-ng (GPL-3.0
software; its output audio is not covered by the GPL). IEMOCAP and MELD keep their own licences and are never
redistributed.

## Citation Information

```bibtex
{citation}
```
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Generate the ParaS2SBench dataset card.")
    parser.add_argument("--output", default=DEFAULT_CARD, help="where to write the card (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the card at --output is out of date")
    parser.add_argument("--measure", action="store_true", help="render the text layer to refresh the hours first")
    args = parser.parse_args(argv)
    if args.measure:
        with open(stats_path(), "w", encoding="utf-8") as f:
            json.dump(measure_render_stats(), f, indent=1)
            f.write("\n")
    card = generate_card()
    if args.check:
        current = ""
        if os.path.isfile(args.output):
            with open(args.output, encoding="utf-8") as f:
                current = f.read()
        if current != card:
            print(f"{args.output} is out of date: run `python -m parass2s_hf.bench.card`.", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date.")
        return 0
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(card)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
