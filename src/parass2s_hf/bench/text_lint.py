"""Lint of the ParaS2SBench text layer: format, neutrality of the words, near-duplicates, balance.

The text layer is the benchmark's foundation: a query whose words give its style away no longer tests
paralinguistic understanding. These checks run as tests (`tests/test_text_layer.py`) and from the shell:

```
parass2s bench lint                                         # the shipped text layer
parass2s bench lint my_texts.jsonl                          # any file in the text layer format
```
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from ..cli_style import dash_aliases
from ..constants import DIMENSIONS, REPLY_STYLES, STYLES
from ..io import read_jsonl  # also the text layer's reader (`text_layer.read_text_layer`)

MIN_WORDS, MAX_WORDS = 3, 30
MAX_REPLY_WORDS = 60
MAX_JACCARD = 0.7
MIN_EMOTION_PAIRS = 80  # per emotion, for the 300-pair test split (scaled for smaller splits)

RECORD_FIELDS = ("id", "pair_id", "split", "dimension", "topic", "scenario", "text", "styles", "per_style")
PER_STYLE_FIELDS = ("requirement", "reference_reply", "reference_reply_style")

# Words and phrases that reveal a style by themselves. Each dimension's items are checked against its own list
# (an emotion word is fine in a sarcasm item: sincere and sarcastic praise share words). Matching is on whole
# words of the normalised text, so "mad" does not match "made". Extend the lists, never loosen them.
CUE_LEXICON: dict[str, tuple[str, ...]] = {
    "emotion": (
        "happy", "happily", "happiness", "glad", "joy", "joyful", "delighted", "thrilled", "excited", "exciting",
        "ecstatic", "overjoyed", "yay", "hooray", "woohoo", "sad", "sadly", "sadness", "unhappy", "depressed",
        "heartbroken", "miserable", "crying", "cried", "tears", "upset", "angry", "anger", "mad", "furious",
        "annoyed", "annoying", "irritated", "outraged", "hate", "rage", "pissed", "afraid", "scared", "scary",
        "fear", "frightened", "terrified", "terrifying", "nervous", "anxious", "panic", "panicking", "worried",
        "disgust", "disgusted", "disgusting", "gross", "yuck", "eww", "ew", "nasty", "revolting", "sickening",
        "surprised", "surprising", "shocked", "shocking", "amazed", "astonished", "stunned", "wow", "omg",
        "unbelievable", "can't believe", "cant believe", "amazing", "fantastic", "awesome", "awful", "horrible",
        "terrible", "wonderful", "dreadful", "lucky", "unlucky", "fortunately", "unfortunately", "finally",
        "thank god", "oh no", "ugh", "yikes",
    ),
    "sarcasm": (
        "yeah right", "oh great", "oh sure", "oh wonderful", "oh joy", "just great", "just perfect",
        "just what i needed", "just what i wanted", "thanks a lot", "thanks for nothing", "as if", "big surprise",
        "what a surprise", "how lovely", "how wonderful", "how nice", "lucky me", "obviously", "clearly",
        "totally", "sure thing", "genius", "/s", "because that always works", "said no one",
        "my favorite thing", "my favourite thing", "love that for me", "so much fun",
        "can't wait", "cant wait", "couldn't be happier", "who knew", "shocker", "color me", "colour me",
        "whatever", "lol", "haha",
    ),
    "age": (
        "when i grow up", "grown up", "grown-up", "my mom", "my mum", "my dad", "mommy", "mummy", "daddy",
        "my parents", "my teacher", "teacher", "recess", "kindergarten", "preschool", "nursery", "homework",
        "grade", "classmate", "classmates", "my kids", "my kid", "my children", "my child", "my son",
        "my daughter", "my baby", "grandkids", "grandchildren", "my wife", "my husband", "my partner",
        "my boss", "boss", "my job", "at work", "office", "colleague", "colleagues", "coworker", "coworkers",
        "mortgage", "rent", "taxes", "tax", "retirement", "retired", "pension", "salary", "college",
        "university", "degree", "lol", "years old", "year old", "toy", "toys", "bedtime", "allowance",
        "pocket money", "driver's license", "drivers license", "driving", "beer", "wine", "bar", "pub",
        "cigarette", "cigarettes", "vodka", "cocktail", "babysitter", "nap time", "naptime", "playground",
        "sleepover", "mommy and daddy", "adult", "adults", "kid", "kids", "child", "children", "grandma",
        "grandpa", "granny", "aunt", "auntie", "uncle",
    ),
    "gender": (
        "my husband", "my wife", "my boyfriend", "my girlfriend", "as a man", "as a woman", "as a guy",
        "as a girl", "pregnant", "pregnancy", "period", "periods", "menstrual", "menopause", "beard",
        "shave my face", "bra", "bras", "dress", "dresses", "skirt", "skirts", "makeup", "make-up", "lipstick",
        "mascara", "prostate", "ladies", "gentlemen", "girls' night", "girls night", "boys' night",
        "boys night", "bridesmaid", "groomsman", "best man", "maid of honor", "maid of honour", "manly",
        "girly", "feminine", "masculine", "boy", "boys", "girl", "girls", "man", "men", "woman", "women",
        "lady", "dude", "bro", "sis", "gal", "guy", "guys", "mr", "mrs", "ms", "sir", "madam", "ma'am",
        "fiance", "fiancee", "bride", "groom", "testosterone", "estrogen", "oestrogen",
    ),
}
# Words that decide a style without the voice, beyond single cue words:
AGE_PERMISSION = re.compile(r"\b(can i|could i|may i|am i allowed|is it ok(ay)?|is it alright|by myself|on my own)\b",
                            re.IGNORECASE)
"""Asking permission points to a child from the words alone; at most `MAX_AGE_PERMISSION_SHARE` of the age texts
may (an adult asks too, but the benchmark must not lean on it)."""
MAX_AGE_PERMISSION_SHARE = 0.05
SARCASM_PRAISE = ("loved", "love", "loves", "enjoyed", "enjoy", "enjoys", "great", "wonderful", "perfect", "best",
                  "thrilled", "delighted")
USUALLY_BAD = ("dentist", "vet", "traffic", "queue", "delay", "delayed", "delays", "cancelled", "canceled",
               "overtime", "taxes", "flat tyre", "flat tire", "jury duty", "paperwork", "hold music", "power cut",
               "food poisoning", "parking ticket")
"""Situations that are usually bad: praising one reads as sarcastic from the words alone (a maintained list: extend
it, never loosen it)."""
MAX_REPLY_JACCARD = 0.5
"""Emotion pairs: the two reference replies must differ (word-set Jaccard below this), or the pair no longer tests a
different reply."""

# Punctuation that performs the style (shouting, trailing-off sighs, scare quotes) is not neutral either.
CUE_PUNCTUATION = ("!", "...", "\u2026", '"', "\u201c", "\u201d", "*", "~")


def normalise(text: str) -> str:
    """Lower-case, unify apostrophes, drop punctuation except inner apostrophes, collapse spaces."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"[^a-z0-9' /-]+", " ", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)
    return " ".join(text.split())


def word_set(text: str) -> frozenset[str]:
    return frozenset(normalise(text).replace("-", " ").replace("/", " ").split())


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def style_cues(text: str, dimension: str) -> list[str]:
    """The lexicon entries and punctuation of `dimension` that occur in `text`."""
    padded = f" {normalise(text)} "
    found = [cue for cue in CUE_LEXICON.get(dimension, ()) if f" {cue} " in padded]
    found += [f"punctuation {p!r}" for p in CUE_PUNCTUATION if p in text]
    return found


def check_record(rec: Mapping) -> list[str]:
    """Problems of one text layer record, each a sentence naming the record and the field."""
    rid = rec.get("id", "<no id>")
    problems = [f"{rid}: missing field {f!r}" for f in RECORD_FIELDS if f not in rec]
    if problems:
        return problems
    dim = rec["dimension"]
    if dim not in DIMENSIONS:
        return [f"{rid}: unknown dimension {dim!r}; expected one of {list(DIMENSIONS)}"]
    if rec["split"] not in ("test", "train"):
        problems.append(f"{rid}: split {rec['split']!r} is not 'test' or 'train'")
    for field in ("topic", "scenario", "text", "pair_id"):
        if not isinstance(rec[field], str) or not rec[field].strip():
            problems.append(f"{rid}: empty {field!r}")
    styles = rec["styles"]
    if not (isinstance(styles, list) and len(styles) == 2 and len(set(styles)) == 2):
        problems.append(f"{rid}: 'styles' must be a list of two different styles, got {styles!r}")
        return problems
    for style in styles:
        if style not in STYLES[dim]:
            problems.append(f"{rid}: style {style!r} is not a {dim} style {list(STYLES[dim])}")
    n_words = len(normalise(rec["text"]).split())
    if not MIN_WORDS <= n_words <= MAX_WORDS:
        problems.append(f"{rid}: text has {n_words} words, expected {MIN_WORDS}-{MAX_WORDS}")
    cues = style_cues(rec["text"], dim)
    if cues:
        problems.append(f"{rid}: text reveals the {dim} style through {cues}: {rec['text']!r}")
    if dim == "sarcasm" and (praise := praised_bad_situation(rec["text"])):
        problems.append(f"{rid}: text praises a usually bad situation ({praise}), which reads as sarcastic without "
                        f"the voice: {rec['text']!r}")
    per_style = rec["per_style"]
    if not isinstance(per_style, Mapping) or set(per_style) != set(styles):
        problems.append(f"{rid}: 'per_style' must have exactly the keys {styles}, got {list(per_style or {})}")
        return problems
    for style in styles:
        entry = per_style[style]
        for field in PER_STYLE_FIELDS:
            if not isinstance(entry.get(field), str) or not entry[field].strip():
                problems.append(f"{rid}: {style}: missing or empty {field!r}")
        reply_style = entry.get("reference_reply_style")
        if reply_style and reply_style not in REPLY_STYLES:
            problems.append(f"{rid}: {style}: reply style {reply_style!r} not in {list(REPLY_STYLES)}")
        reply = entry.get("reference_reply") or ""
        if len(reply.split()) > MAX_REPLY_WORDS:
            problems.append(f"{rid}: {style}: reference reply longer than {MAX_REPLY_WORDS} words")
        if "[" in reply or "]" in reply:
            problems.append(f"{rid}: {style}: reference reply must be plain speakable text (no brackets)")
    replies = [per_style[s].get("reference_reply", "").strip().lower() for s in styles]
    if replies[0] and replies[0] == replies[1]:
        problems.append(f"{rid}: both styles have the same reference reply; the styles must call for different replies")
    elif dim == "emotion" and (score := jaccard(word_set(replies[0]), word_set(replies[1]))) >= MAX_REPLY_JACCARD:
        problems.append(f"{rid}: the two reference replies are alike (word-set Jaccard {score:.2f}, at most "
                        f"{MAX_REPLY_JACCARD} allowed): the styles must call for different replies")
    return problems


def praised_bad_situation(text: str) -> str:
    """"praise + situation" when `text` praises (`SARCASM_PRAISE`) a usually bad situation (`USUALLY_BAD`), else ""."""
    padded = f" {normalise(text)} "
    praise = [w for w in SARCASM_PRAISE if f" {w} " in padded]
    bad = [w for w in USUALLY_BAD if f" {w} " in padded]
    return f"{praise[0]!r} + {bad[0]!r}" if praise and bad else ""


def asks_permission(text: str) -> bool:
    """The text asks permission (`AGE_PERMISSION`), which points to a child from the words alone."""
    return bool(AGE_PERMISSION.search(text))


def check_layer(
    records: Sequence[Mapping],
    expected_counts: Mapping[tuple[str, str], int] | None = None,
    min_emotion_share: float = MIN_EMOTION_PAIRS / 300,
) -> list[str]:
    """Problems of a whole text layer: per-record checks plus counts, balance, duplicates and topic disjointness.

    Args:
        records (`Sequence[Mapping]`): text layer records.
        expected_counts (`Mapping[tuple[str, str], int]`, *optional*): exact number of records per
            `(split, dimension)`; not checked when `None`.
        min_emotion_share (`float`, *optional*, defaults to `80 / 300`): the least share of a split's emotion
            pairs that each emotion must take part in.
    """
    problems = [p for rec in records for p in check_record(rec)]
    ids = Counter(rec.get("id") for rec in records)
    problems += [f"duplicate id {i!r} ({n} records)" for i, n in ids.items() if n > 1]
    pair_ids = Counter(rec.get("pair_id") for rec in records)
    problems += [f"duplicate pair_id {i!r} ({n} records)" for i, n in pair_ids.items() if n > 1]

    if expected_counts is not None:
        counts = Counter((rec.get("split"), rec.get("dimension")) for rec in records)
        for key, n in expected_counts.items():
            if counts[key] != n:
                problems.append(f"{key[0]}/{key[1]}: {counts[key]} records, expected {n}")

    by_norm: dict[str, list[str]] = defaultdict(list)
    for rec in records:
        by_norm[normalise(rec.get("text", ""))].append(rec.get("id"))
    problems += [f"duplicate texts {ids_}" for ids_ in by_norm.values() if len(ids_) > 1]

    by_dim: dict[str, list[Mapping]] = defaultdict(list)
    for rec in records:
        by_dim[rec.get("dimension")].append(rec)
    for dim, recs in by_dim.items():
        sets = [(rec.get("id"), word_set(rec.get("text", ""))) for rec in recs]
        for (ia, a), (ib, b) in itertools.combinations(sets, 2):
            score = jaccard(a, b)
            if score >= MAX_JACCARD:
                problems.append(f"{dim}: {ia} and {ib} are near-duplicates (word-set Jaccard {score:.2f})")

    for split in ("test", "train"):
        pairs = [rec for rec in by_dim.get("emotion", []) if rec.get("split") == split]
        if not pairs:
            continue
        seen = Counter(s for rec in pairs for s in set(rec.get("styles", ())))
        need = min_emotion_share * len(pairs)
        for emotion in STYLES["emotion"]:
            if seen[emotion] < need:
                problems.append(
                    f"{split}/emotion: {emotion!r} takes part in {seen[emotion]} of {len(pairs)} pairs, "
                    f"expected at least {need:.0f}"
                )

    age = [rec for rec in by_dim.get("age", []) if isinstance(rec.get("text"), str)]
    asking = [rec.get("id") for rec in age if asks_permission(rec["text"])]
    if age and len(asking) > MAX_AGE_PERMISSION_SHARE * len(age):
        problems.append(f"age: {len(asking)} of {len(age)} texts ask permission ({AGE_PERMISSION.pattern}), which "
                        f"points to a child from the words alone; at most {MAX_AGE_PERMISSION_SHARE:.0%} may: "
                        f"{asking[:10]}{' ...' if len(asking) > 10 else ''}")

    topics = {split: {rec.get("topic") for rec in records if rec.get("split") == split} for split in ("test", "train")}
    shared = topics["test"] & topics["train"]
    if shared:
        problems.append(f"topics shared by the train and test splits: {sorted(shared)}")
    return problems


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Lint a ParaS2SBench text layer.")
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="text layer files (JSON lines); none: the shipped text layer, with its full-size counts")
    return dash_aliases(parser)


def main(argv: Iterable[str] | None = None) -> int:
    args = build_parser().parse_args(None if argv is None else list(argv)).files
    if args:
        records = [rec for path in args for rec in read_jsonl(path, "text layer file")]
        problems = check_layer(records)
    else:
        from .text_layer import EXPECTED_COUNTS, read_text_layer

        records = read_text_layer()
        problems = check_layer(records, EXPECTED_COUNTS)
    for p in problems:
        print(p)
    print(f"{len(records)} records, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
