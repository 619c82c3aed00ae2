"""The ParaS2SBench dataset card, generated so that it cannot drift from the code.

```
python -m parass2s_hf.bench.card                 # write the repository's dataset_card/README.md
python -m parass2s_hf.bench.card --check         # exit 1 if that file is out of date (a test runs this)
python -m parass2s_hf.bench.card --measure       # prepare the shipped and rendered configs to refresh hours and sizes
```

The YAML header comes from the one `Features` object and the configs; the statistics from the text layer; the
hours and the split sizes in bytes from `data/render_stats.json`, which `--measure` writes (it prepares `sample`, the
four dimension configs and `synthetic` as `load_dataset` would, rendering every text twice: about six minutes on two
cores), keyed by the text layer's hash so that a changed text layer with stale figures fails the check. The sizes
of `iemocap`, `meld` and `all` depend on the user's licensed copies and are stated as unknown.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

import datasets
import yaml

from ..cli_style import dash_aliases
from ..constants import DIMENSIONS, REPLY_STYLES, STYLES
from ..render.styles import prosody_table_markdown, voice_split_markdown
from .features import FEATURES, FIELD_DESCRIPTIONS, ROW_FIELDS
from .parass2s_bench import _CITATION, BUILDER_CONFIGS
from .real_corpora import EMOTION_REQUIREMENTS
from .text_layer import read_text_layer, text_layer_hash

STATS_FILE = "render_stats.json"
DEFAULT_CARD = os.path.join("dataset_card", "README.md")


def stats_path() -> str:
    return str(resources.files(__package__).joinpath("data", STATS_FILE))


MEASURED_KINDS = ("sample", "synthetic")
"""Configs whose data ships with the package or is rendered from it: their sizes are measured. The others read the
user's licensed IEMOCAP/MELD copies, which cannot be shipped, so their sizes are unknown."""


def measure_render_stats(renderer: str = "espeak-ng") -> dict:
    """Prepare `sample`, the dimension configs and `synthetic` in a temporary cache, as `load_dataset` would, and keep
    what `datasets` recorded (rows and bytes per split, `download_size`, `dataset_size`) and the audio duration per
    split and dimension.

    Args:
        renderer (`str`, *optional*, defaults to `"espeak-ng"`): the renderer of the synthetic configs.

    Returns:
        `dict`: the content of `data/render_stats.json`.
    """
    import io
    import tempfile

    import soundfile as sf
    from tqdm.auto import tqdm

    from .loading import parass2sbench_builder

    # Only a renderer other than the config's default enters the config kwargs (and so the cache folder's name).
    kwargs = {} if renderer == "espeak-ng" else {"renderer": renderer}
    seconds, sizes = Counter(), {}
    configs = [c for c in BUILDER_CONFIGS if c.kind in MEASURED_KINDS]
    with tempfile.TemporaryDirectory(prefix="parass2s-card-") as cache:
        for cfg in tqdm(configs, desc=f"preparing with {renderer}", unit="config"):
            builder = parass2sbench_builder(cfg.name, cache_dir=cache, **({} if cfg.kind == "sample" else kwargs))
            builder.download_and_prepare()
            info = builder.info
            sizes[cfg.name] = {
                "splits": {name: {"num_bytes": s.num_bytes, "num_examples": s.num_examples}
                           for name, s in info.splits.items()},
                "download_size": info.download_size or 0,
                "dataset_size": info.dataset_size,
            }
            if cfg.kind == "synthetic" and len(cfg.dimensions) == 1:
                for split in info.splits:
                    audio = builder.as_dataset(split=split).cast_column("audio", datasets.Audio(decode=False))["audio"]
                    seconds[f"{split}/{cfg.dimensions[0]}"] += sum(sf.info(io.BytesIO(a["bytes"])).duration
                                                                   for a in audio)
    return {"text_layer_sha256": text_layer_hash(), "renderer": renderer,
            "seconds": {k: round(v, 1) for k, v in sorted(seconds.items())}, "sizes": sizes}


def read_render_stats() -> dict | None:
    if not os.path.isfile(stats_path()):
        return None
    with open(stats_path(), encoding="utf-8") as f:
        return json.load(f)


def _counts(records):
    texts = Counter((r["split"], r["dimension"]) for r in records)
    styles = {d: Counter(s for r in records if r["dimension"] == d for s in r["styles"]) for d in DIMENSIONS}
    return texts, styles


def _fresh(stats: dict | None) -> bool:
    return stats is not None and stats.get("text_layer_sha256") == text_layer_hash()


def measured_sizes(stats: dict | None) -> dict:
    """The measured sizes per config: `sample` always (its audio ships), the rendered configs only while the stats
    belong to the current text layer."""
    sizes = (stats or {}).get("sizes", {})
    kinds = {c.name: c.kind for c in BUILDER_CONFIGS}
    return {name: size for name, size in sizes.items() if kinds.get(name) == "sample" or _fresh(stats)}


def yaml_header(records, stats: dict | None = None) -> str:
    texts, _ = _counts(records)
    sizes = measured_sizes(stats)
    infos = []
    for cfg in BUILDER_CONFIGS:
        if cfg.kind == "sample":
            splits = {"test": 2 * 6 * len(DIMENSIONS)}
        elif cfg.kind in ("synthetic",):
            splits = {s: 2 * sum(texts[(s, d)] for d in cfg.dimensions) for s in ("test", "train")}
        else:
            splits = {}  # real corpora: counts depend on the user's copy
        size = sizes.get(cfg.name)
        measured = size is not None and {s: v["num_examples"] for s, v in size["splits"].items()} == splits
        info = datasets.DatasetInfo(
            features=FEATURES, config_name=cfg.name,
            splits=datasets.SplitDict({s: datasets.SplitInfo(s, num_examples=n,
                                                             num_bytes=size["splits"][s]["num_bytes"] if measured else 0)
                                       for s, n in splits.items() if n}),
            download_size=size["download_size"] if measured else None,
            dataset_size=size["dataset_size"] if measured else None,
        )
        # An unknown size is left out rather than written as 0 (the Hub would show an empty dataset).
        entry = {k: v for k, v in info._to_yaml_dict().items() if v is not None}
        if not measured:
            for split in entry.get("splits", []):
                split.pop("num_bytes")
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


def sizes_table(stats: dict | None) -> str:
    """Rows and prepared size (the Arrow files `datasets` writes) of each config."""
    sizes = measured_sizes(stats)
    rows = ["| config | test rows | test size | train rows | train size | dataset size |", "|---|---|---|---|---|---|"]
    for cfg in BUILDER_CONFIGS:
        size = sizes.get(cfg.name)
        if cfg.kind not in MEASURED_KINDS:
            what = "unknown (your licensed copy)" if cfg.kind != "all" else "unknown (synthetic + your IEMOCAP and MELD)"
            train = "as `synthetic`" if cfg.kind == "all" else "-"
            rows.append(f"| `{cfg.name}` | {what} | unknown | {train} | {train} | unknown |")
            continue
        if size is None:
            rows.append(f"| `{cfg.name}` | not measured | not measured | not measured | not measured | not measured |")
            continue
        cells = []
        for split in ("test", "train"):
            info = size["splits"].get(split)
            cells += [str(info["num_examples"]), _megabytes(info["num_bytes"])] if info else ["-", "-"]
        rows.append(f"| `{cfg.name}` | {' | '.join(cells)} | {_megabytes(size['dataset_size'])} |")
    note = ("Sizes: what `datasets` records when it prepares the config (`python -m parass2s_hf.bench.card --measure`); "
            "the YAML header gives them in bytes. IEMOCAP and MELD cannot be shipped, so the sizes of `iemocap`, "
            "`meld` and the real part of `all` depend on your copies and are left out of the header.")
    return "\n".join(rows) + "\n\n" + note


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def statistics_table(records, stats: dict | None) -> str:
    texts, styles = _counts(records)
    seconds = (stats or {}).get("seconds", {})
    fresh = _fresh(stats)
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


def _voice_split() -> str:
    from ..render import get_renderer
    from .parass2s_bench import benchmark_voice_plan

    return voice_split_markdown(benchmark_voice_plan(get_renderer("espeak-ng")).split_voices)


def generate_card() -> str:
    records = read_text_layer()
    stats = read_render_stats()
    fields = "\n".join(f"- `{name}`: {FIELD_DESCRIPTIONS[name]}" for name in ROW_FIELDS)
    requirements = "\n".join(f"- {e}: {t}" for e, t in EMOTION_REQUIREMENTS.items())
    configs = "\n".join(f"| `{c.name}` | {c.description} |" for c in BUILDER_CONFIGS)
    body = BODY.format(
        configs=configs, fields=fields, statistics=statistics_table(records, stats), sizes=sizes_table(stats),
        prosody=prosody_table_markdown(), voice_split=_voice_split(), reply_styles=", ".join(REPLY_STYLES),
        requirements=requirements,
        citation=_CITATION.strip(),
    )
    return yaml_header(records, stats) + body


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

#### Sizes

{sizes}

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

**Voices are disjoint by split**, as in the paper:

{voice_split}

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


def repository_card_path() -> str | None:
    """The `dataset_card/README.md` of the source checkout this package is imported from (an editable install), or
    `None` for an installed copy, which ships no card."""
    package = Path(__file__).resolve().parents[1]
    root = package.parents[1]
    if package.parent.name == "src" and ((root / "setup.py").is_file() or (root / "pyproject.toml").is_file()):
        return str(root / DEFAULT_CARD)
    return None


def check_card(path: str, card: str) -> int:
    """Compare the card file at `path` with `card` (the generated one); 0 up to date, 1 out of date, 2 no file."""
    package = Path(__file__).resolve().parents[1]
    if not os.path.isfile(path):
        print(f"No dataset card at {os.path.abspath(path)}: --check compares the repository's dataset_card/README.md "
              f"with the card that parass2s_hf at {package} generates. Run it in a checkout of the repository (an "
              f"editable install finds its card from any folder) or pass --output PATH.", file=sys.stderr)
        return 2
    with open(path, encoding="utf-8") as f:
        current = f.read()
    if current != card:
        line = next((i for i, (a, b) in enumerate(zip(current.splitlines(), card.splitlines()), 1) if a != b),
                    min(len(current.splitlines()), len(card.splitlines())) + 1)
        print(f"{path} is out of date: it differs, from line {line} on, from the card that parass2s_hf at {package} "
              f"generates. Run `parass2s bench card --output {path}` to rewrite it.", file=sys.stderr)
        return 1
    print(f"{path} is up to date with the card that parass2s_hf at {package} generates.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Generate the ParaS2SBench dataset card.")
    parser.add_argument("--output", default=None,
                        help="the card file (default: dataset_card/README.md of the repository checkout this package "
                             f"runs from, else ./{DEFAULT_CARD})")
    parser.add_argument("--check", action="store_true",
                        help="compare the card at --output with the generated one instead of writing it: exit 1 if "
                             "it is out of date, 2 if there is no file")
    parser.add_argument("--measure", action="store_true",
                        help="prepare the shipped and rendered configs first (minutes) to refresh the hours and "
                             "sizes in bench/data/render_stats.json")
    return dash_aliases(parser)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    output = args.output or repository_card_path() or DEFAULT_CARD
    if args.measure:
        with open(stats_path(), "w", encoding="utf-8") as f:
            json.dump(measure_render_stats(), f, indent=1)
            f.write("\n")
    card = generate_card()
    if args.check:
        return check_card(output, card)
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    with open(output, "w", encoding="utf-8") as f:
        f.write(card)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
