"""Responses made elsewhere, read from a folder or a manifest: evaluate any system without running it here.

A folder holds one audio file per response, named by record id: `<id>.wav` for sample 0, `<id>__<k>.wav` for sample
k (any of `AUDIO_EXTENSIONS`, in any subfolder). A manifest (`.jsonl` or `.csv`) has the columns `id` and `audio`
(a path relative to the manifest's folder, or absolute) and optionally `text` (the response's words) and `sample`
(default 0).

```python
>>> system = build_system("precomputed", responses="outputs/")       # outputs/emotion-test-0001-happy.wav, ...
>>> system.missing([("emotion-test-0001-happy", 0), ("emotion-test-0001-fear", 0)])
[('emotion-test-0001-fear', 0)]
```
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..audio import AudioError, load_audio
from ..constants import SAMPLING_RATE
from ..io import files_fingerprint, iter_jsonl
from .base import S2SResponse, register_system

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".mp4", ".webm")
MANIFEST_EXTENSIONS = (".jsonl", ".csv")
_SAMPLE_SUFFIX = re.compile(r"^(?P<id>.+)__(?P<sample>\d+)$")


@dataclass
class _Entry:
    path: str
    text: str | None = None


def key_of_stem(stem: str) -> tuple[str, int]:
    """`("<id>", k)` for a file stem `<id>__<k>`, `("<stem>", 0)` otherwise."""
    match = _SAMPLE_SUFFIX.match(stem)
    return (match["id"], int(match["sample"])) if match else (stem, 0)


def _check_extension(path: str, where: str) -> None:
    if not path.lower().endswith(AUDIO_EXTENSIONS):
        raise ValueError(f"{where}: {path!r} has an unsupported audio extension; expected one of "
                         f"{list(AUDIO_EXTENSIONS)}.")


@register_system("precomputed")
class PrecomputedSystem:
    """Serves responses that already exist as audio files.

    Args:
        responses (`str`): a folder of audio files named by record id (`<id>.<ext>`, or `<id>__<k>.<ext>` for sample
            k; searched recursively; other files are ignored), or a manifest `.jsonl` / `.csv` with the columns `id`,
            `audio` and optionally `text` and `sample`.

    Raises:
        `ValueError`: a missing folder or file, a manifest that is not `.jsonl` / `.csv` or misses a column, an audio
            path with an unsupported extension, a folder without audio files, or two files for the same (id, sample).
    """

    name = "precomputed"

    def __init__(self, responses: str):
        self.responses = os.path.abspath(os.fspath(responses))
        if os.path.isdir(self.responses):
            self.entries = self._scan_folder(self.responses)
        elif os.path.isfile(self.responses):
            if not self.responses.lower().endswith(MANIFEST_EXTENSIONS):
                raise ValueError(f"responses {responses!r} is a file but not a manifest; expected a folder of audio "
                                 f"files or a manifest ending in one of {list(MANIFEST_EXTENSIONS)}.")
            self.entries = self._read_manifest(self.responses)
        else:
            raise ValueError(f"responses {responses!r} does not exist; expected a folder of audio files or a manifest "
                             f"({', '.join(MANIFEST_EXTENSIONS)}).")

    # ---- reading the listing ----

    @staticmethod
    def _scan_folder(folder: str) -> dict[tuple[str, int], _Entry]:
        entries: dict[tuple[str, int], _Entry] = {}
        for root, dirs, files in os.walk(folder):
            dirs.sort()  # a stable walk, so that a duplicate is always reported the same way
            for file in sorted(files):
                if file.startswith(".") or not file.lower().endswith(AUDIO_EXTENSIONS):
                    continue  # a README, a metadata file, .DS_Store
                path = os.path.join(root, file)
                key = key_of_stem(os.path.splitext(file)[0])
                if key in entries:
                    raise ValueError(f"Two responses for id {key[0]!r} sample {key[1]}: {entries[key].path} and "
                                     f"{path}; keep one.")
                entries[key] = _Entry(path)
        if not entries:
            raise ValueError(f"responses folder {folder!r} holds no audio files ({', '.join(AUDIO_EXTENSIONS)}).")
        return entries

    @staticmethod
    def _manifest_rows(path: str) -> list[tuple[str, dict]]:
        """`(where, row)` of each row of a manifest, `where` naming the file and the line."""
        if path.lower().endswith(".csv"):
            with open(path, newline="", encoding="utf-8-sig") as f:
                return [(f"{path}:{line}", row) for line, row in enumerate(csv.DictReader(f), start=2)]
        return [(f"{path}:{line}", row) for line, row in iter_jsonl(path, "responses manifest")]

    @classmethod
    def _read_manifest(cls, path: str) -> dict[tuple[str, int], _Entry]:
        base = os.path.dirname(path)
        entries: dict[tuple[str, int], _Entry] = {}
        absent = []
        for where, row in cls._manifest_rows(path):
            lacking = [c for c in ("id", "audio") if row.get(c) in (None, "")]
            if lacking:
                raise ValueError(f"{where}: missing column(s) {lacking}; a manifest needs 'id' and 'audio' "
                                 f"(optional: 'text', 'sample').")
            sample = row.get("sample")
            try:
                sample = 0 if sample in (None, "") else int(sample)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: sample {sample!r} is not an integer.") from None
            if sample < 0:
                raise ValueError(f"{where}: sample {sample!r} must be 0 or more.")
            audio = os.path.join(base, str(row["audio"]))  # an absolute path stays as it is
            _check_extension(audio, where)
            key = (str(row["id"]), sample)
            if key in entries:
                raise ValueError(f"{where}: a second response for id {key[0]!r} sample {sample} "
                                 f"({entries[key].path} and {audio}); keep one.")
            text = row.get("text")
            entries[key] = _Entry(audio, None if text in (None, "") else str(text))
            if not os.path.isfile(audio):
                absent.append(audio)
        if absent:
            # Counted as missing responses (see `missing`), like an id without a file in a folder.
            logger.warning("%d audio file(s) named in %s do not exist, e.g. %s", len(absent), path, absent[:3])
            absent = set(absent)
            entries = {k: e for k, e in entries.items() if e.path not in absent}
        return entries

    # ---- the system protocol ----

    def missing(self, keys: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
        """The `(id, sample)` keys, in the order given, that have no response file."""
        return [(str(i), int(k)) for i, k in keys if (str(i), int(k)) not in self.entries]

    def config(self) -> dict:
        # The listing's names and contents (and a manifest's own, which holds the texts): replacing a file, even by one
        # of the same size, changes the fingerprint, so a run folder never reuses a score of another response.
        # Hashes are remembered by modification time (`io.file_hash`): a rerun does not read unchanged files again.
        root = self.responses if os.path.isdir(self.responses) else os.path.dirname(self.responses)
        paths = [e.path for e in self.entries.values()]
        if os.path.isfile(self.responses):
            paths.append(self.responses)
        return {"responses": self.responses, "content_sha256": files_fingerprint(paths, root),
                "files": len(self.entries)}

    def respond(self, rows: Sequence[dict], sample_index: int = 0) -> list[S2SResponse]:
        return [self._one(str(row["id"]), sample_index) for row in rows]

    def _one(self, record_id: str, sample_index: int) -> S2SResponse:
        entry = self.entries.get((record_id, sample_index))
        if entry is None:
            return S2SResponse(None, None, error=f"no response for id {record_id!r} sample {sample_index} in "
                                                 f"{self.responses}")
        info = {"path": entry.path}
        try:
            clip = load_audio(entry.path, name=entry.path)
        except AudioError as e:
            if e.problem.startswith("empty"):  # an empty answer is the system's failure, scored, not an error
                return S2SResponse(np.zeros(0, np.float32), SAMPLING_RATE, text=entry.text, info=info)
            return S2SResponse(None, None, text=entry.text, error=str(e), info=info)
        return S2SResponse(clip.array, clip.sampling_rate, text=entry.text, info=info)
