"""The real-speech subsets: IEMOCAP and MELD, read from the user's licensed copies.

Neither corpus may be redistributed, and the paper does not publish which utterances it kept (about 709 from
IEMOCAP and 781 from MELD). This module applies a documented rule instead:

1. map the corpus label to the six ParaS2SBench emotions: IEMOCAP `hap`+`exc` -> happy, `sad` -> sad,
   `ang` -> angry, `sur` -> surprised, `fea` -> fear, `dis` -> disgust; MELD `joy` -> happy, `sadness` -> sad,
   `anger` -> angry, `surprise` -> surprised, `fear` -> fear, `disgust` -> disgust. Neutral and every other label
   (IEMOCAP `neu`, `fru`, `oth`, `xxx`) are dropped;
2. keep an utterance only if its transcript passes the text layer's neutrality lint for emotion: 3 to 30 words and
   no entry of the emotion cue lexicon or style punctuation (`text_lint.style_cues`), so that the words alone
   do not give the emotion away, as for the synthetic texts;
3. IEMOCAP: all five sessions, scripted and improvised; MELD: the `test` split by default (`meld_splits`).

`parass2s bench corpora --iemocap DIR --meld DIR` prints what the rule keeps and drops, by
reason, for your copies.
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence

from ..cli_style import dash_aliases
from .text_lint import MAX_WORDS, MIN_WORDS, normalise, style_cues

IEMOCAP_LABELS = {"hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry", "sur": "surprised",
                  "fea": "fear", "dis": "disgust"}
MELD_LABELS = {"joy": "happy", "sadness": "sad", "anger": "angry", "surprise": "surprised", "fear": "fear",
               "disgust": "disgust"}
MELD_CSV = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}

# The judge reads a requirement note; real utterances have no scenario, so each gets its emotion's general note.
EMOTION_REQUIREMENTS = {
    "happy": "Hears that the speaker is happy; shares the good mood and engages with what pleases them; bright, "
             "cheerful tone.",
    "surprised": "Hears that the speaker is surprised; acknowledges the unexpected and helps make sense of it; "
                 "lively, engaged tone.",
    "sad": "Hears that the speaker is sad; responds with empathy and support, without cheerfulness; soft, gentle tone.",
    "angry": "Hears that the speaker is angry; acknowledges the frustration without escalating or dismissing it, "
             "and helps constructively; calm, steady tone.",
    "fear": "Hears that the speaker is afraid; reassures and offers concrete steps toward safety; calm, gentle tone.",
    "disgust": "Hears that the speaker is disgusted; validates the reaction and responds to its cause; concerned, "
               "serious tone.",
}

IEMOCAP_INSTRUCTIONS = (
    "IEMOCAP is not redistributed. Request it from USC SAIL (https://sail.usc.edu/iemocap/iemocap_release.htm), "
    "unpack it, and pass the folder that contains Session1 ... Session5, e.g. "
    "load_dataset('parass2sbench', 'iemocap', data_dir='/data/IEMOCAP_full_release') "
    "(for the 'all' config: iemocap_dir=...)."
)
MELD_INSTRUCTIONS = (
    "MELD is not redistributed here. Download MELD.Raw.tar.gz from https://affective-meld.github.io/ , extract it "
    "and the train/dev/test archives inside it, and pass the folder that holds test_sent_emo.csv and the clip "
    "folders (output_repeated_splits_test, ...), e.g. load_dataset('parass2sbench', 'meld', data_dir='/data/MELD.Raw') "
    "(for the 'all' config: meld_dir=...)."
)


class CorpusNotFoundError(FileNotFoundError):
    """A real corpus folder that is missing or not in its release layout; the message says how to get it."""


def _selection_reason(text: str) -> str | None:
    """Why a transcript is dropped by rule 2, or `None` when it is kept."""
    n = len(normalise(text).split())
    if n < MIN_WORDS:
        return "too_short"
    if n > MAX_WORDS:
        return "too_long"
    if style_cues(text, "emotion"):
        return "emotion_cue_in_words"
    return None


def _row(corpus: str, utt_id: str, style: str, text: str, voice: str, audio_path: str) -> dict:
    return {"id": f"{corpus}-{utt_id}", "pair_id": "", "split": "test", "dimension": "emotion", "style": style,
            "text": text, "voice": voice, "source": corpus, "topic": "", "scenario": "",
            "requirement": EMOTION_REQUIREMENTS[style], "reference_reply": "", "reference_reply_style": "",
            "audio_path": audio_path}


def iter_iemocap(root: str | os.PathLike | None, counts: Counter | None = None) -> Iterator[dict]:
    """Rows of the IEMOCAP subset (see the module docstring for the rule); `counts` gets kept/dropped tallies."""
    sessions = iemocap_sessions(root)
    counts = Counter() if counts is None else counts
    label_line = re.compile(r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\t(\S+)\t(\S+)\t")
    text_line = re.compile(r"^(Ses\S+)\s+\[[^\]]*\]:\s*(.*)$")
    for session in sessions:
        eval_files = sorted(glob.glob(os.path.join(session, "dialog", "EmoEvaluation", "*.txt")))
        if not eval_files:
            raise CorpusNotFoundError(f"{session!r} has no dialog/EmoEvaluation/*.txt label files. {IEMOCAP_INSTRUCTIONS}")
        for eval_file in eval_files:
            dialog = os.path.splitext(os.path.basename(eval_file))[0]
            transcripts = {}
            trans_file = os.path.join(session, "dialog", "transcriptions", dialog + ".txt")
            if os.path.isfile(trans_file):
                with open(trans_file, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        m = text_line.match(line.strip())
                        if m:
                            transcripts[m.group(1)] = m.group(2).strip()
            with open(eval_file, encoding="utf-8", errors="replace") as f:
                labels = [m.groups() for m in map(label_line.match, f) if m]
            for utt_id, label in labels:
                counts["utterances"] += 1
                style = IEMOCAP_LABELS.get(label)
                if style is None:
                    counts[f"dropped_label_{label}"] += 1
                    continue
                text = transcripts.get(utt_id)
                if text is None:
                    raise CorpusNotFoundError(f"IEMOCAP utterance {utt_id} has a label but no line in {trans_file!r}.")
                reason = _selection_reason(text)
                if reason:
                    counts[f"dropped_{reason}"] += 1
                    continue
                wav = os.path.join(session, "sentences", "wav", dialog, utt_id + ".wav")
                if not os.path.isfile(wav):
                    raise CorpusNotFoundError(f"IEMOCAP audio file missing: {wav!r}. {IEMOCAP_INSTRUCTIONS}")
                # Ses01F_impro01_F000: session 01, the speaker's gender is the letter of the last part.
                voice = f"{utt_id[:5]}{utt_id.rsplit('_', 1)[-1][0]}"
                counts[f"kept_{style}"] += 1
                yield _row("iemocap", utt_id, style, text, voice, wav)


def iemocap_sessions(root: str | os.PathLike | None) -> list[str]:
    """The `Session*` folders of an IEMOCAP copy; `CorpusNotFoundError` saying how to get it otherwise."""
    root = check_corpus_root(root, "IEMOCAP", IEMOCAP_INSTRUCTIONS)
    sessions = sorted(glob.glob(os.path.join(root, "Session[1-5]")))
    if not sessions:
        raise CorpusNotFoundError(f"No Session1 ... Session5 folders in {root!r}. {IEMOCAP_INSTRUCTIONS}")
    return sessions


def meld_csvs(root: str | os.PathLike | None, splits: Sequence[str] = ("test",)) -> dict[str, str]:
    """The annotation CSV of each MELD split; `CorpusNotFoundError` saying how to get it otherwise."""
    root = check_corpus_root(root, "MELD", MELD_INSTRUCTIONS)
    unknown = [s for s in splits if s not in MELD_CSV]
    if unknown:
        raise ValueError(f"Unknown MELD split(s) {unknown}; expected some of {list(MELD_CSV)}.")
    found = {}
    for split in splits:
        found[split] = _find_one(root, MELD_CSV[split])
        if found[split] is None:
            raise CorpusNotFoundError(f"No {MELD_CSV[split]} under {root!r}. {MELD_INSTRUCTIONS}")
    return found


def iter_meld(root: str | os.PathLike | None, splits: Sequence[str] = ("test",),
              counts: Counter | None = None) -> Iterator[dict]:
    """Rows of the MELD subset; audio is decoded from the MP4 clips. `counts` gets kept/dropped tallies."""
    csv_paths = meld_csvs(root, splits)
    root = os.fspath(root)
    counts = Counter() if counts is None else counts
    clips = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(".mp4") and not name.startswith("._"):
                clips.setdefault((os.path.basename(dirpath), name), os.path.join(dirpath, name))
    for split in splits:
        csv_path = csv_paths[split]
        by_name = {}
        for (folder, name), path in clips.items():
            if _meld_folder_split(folder) == split:
                by_name[name] = path
        with open(csv_path, encoding="utf-8", errors="replace", newline="") as f:
            for rec in csv.DictReader(f):
                counts["utterances"] += 1
                style = MELD_LABELS.get(rec["Emotion"].strip().lower())
                if style is None:
                    counts[f"dropped_label_{rec['Emotion'].strip().lower()}"] += 1
                    continue
                text = _clean_meld_text(rec["Utterance"])
                reason = _selection_reason(text)
                if reason:
                    counts[f"dropped_{reason}"] += 1
                    continue
                utt = f"dia{rec['Dialogue_ID'].strip()}_utt{rec['Utterance_ID'].strip()}"
                path = by_name.get(utt + ".mp4")
                if path is None:
                    # A handful of MELD clips are known to be missing or broken in the release: counted, not fatal.
                    counts["dropped_clip_missing"] += 1
                    continue
                counts[f"kept_{style}"] += 1
                yield _row("meld", f"{split}-{utt}", style, text, rec["Speaker"].strip(), path)


def _meld_folder_split(folder: str) -> str | None:
    folder = folder.lower()
    for split in ("train", "dev", "test"):
        if split in folder:
            return split
    return None


def _clean_meld_text(text: str) -> str:
    # MELD's CSVs carry Windows-1252 punctuation decoded as Latin-1 (e.g. "\x92" for an apostrophe).
    for bad, good in (("\x92", "'"), ("\x91", "'"), ("\x93", '"'), ("\x94", '"'), ("\x85", "..."), ("\x97", "-"),
                      ("\u2019", "'"), ("\ufffd", "'")):
        text = text.replace(bad, good)
    return " ".join(text.split())


def _find_one(root: str, name: str) -> str | None:
    for dirpath, _, files in os.walk(root):
        if name in files:
            return os.path.join(dirpath, name)
    return None


def check_corpus_root(root, corpus: str, instructions: str) -> str:
    """`root` as a string; `CorpusNotFoundError` with how to get the corpus when it is missing."""
    if root is None:
        raise CorpusNotFoundError(f"{corpus} needs a local copy and none was given. {instructions}")
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise CorpusNotFoundError(f"{corpus} folder {root!r} does not exist. {instructions}")
    return root


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Count what the ParaS2SBench selection rule keeps from IEMOCAP/MELD.")
    parser.add_argument("--iemocap", help="folder holding Session1 ... Session5")
    parser.add_argument("--meld", help="folder holding MELD's CSVs and clip folders")
    parser.add_argument("--meld_splits", nargs="+", default=["test"], choices=list(MELD_CSV),
                        help="MELD splits to draw from (default: test)")
    return dash_aliases(parser)


def main(argv=None) -> int:
    """`parass2s bench corpora --iemocap DIR --meld DIR`: what the selection rule keeps, by reason.
    A corpus folder that is missing or not laid out as expected is one line (what to fetch, and where), exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.iemocap or args.meld):
        parser.error("give --iemocap and/or --meld")
    for name, rows in (("iemocap", args.iemocap and (lambda c: iter_iemocap(args.iemocap, c))),
                       ("meld", args.meld and (lambda c: iter_meld(args.meld, args.meld_splits, c)))):
        if rows:
            counts = Counter()
            try:
                kept = sum(1 for _ in rows(counts))
            except (FileNotFoundError, ValueError) as e:  # a corpus not there, or not laid out as expected
                print(f"parass2s bench corpora: error: {' '.join(str(e).split())}", file=sys.stderr)
                return 2
            print(f"{name}: kept {kept} of {counts['utterances']}")
            for key, n in sorted(counts.items()):
                print(f"  {key}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
