"""Render the shipped `sample` config: `python -m parass2s_hf.bench.make_sample`.

Writes `data/sample/metadata.jsonl` and `data/sample/audio/*.flac` (16 kHz, espeak-ng) from the text layer
records listed in `SAMPLE_IDS`, in the `data_dir` layout, so the `sample` config reads it like any user folder.
Rendering is deterministic: rerunning it without changes to the texts or the style table rewrites identical files.
"""

from __future__ import annotations

import argparse
import json
import os
from importlib import resources

from ..cli_style import dash_aliases
from ..constants import DIMENSIONS
from ..render import get_renderer
from .parass2s_bench import benchmark_voice_plan, row_voice_key
from .text_layer import read_text_layer, record_rows

SAMPLE_IDS = tuple(f"{d}-test-{n:04d}" for d in DIMENSIONS for n in range(1, 7))
"""Six texts per dimension (both styles of each), covering all six emotions twice."""


def make_sample(out_dir: str | None = None, renderer: str = "espeak-ng") -> str:
    out_dir = out_dir or str(resources.files(__package__).joinpath("data", "sample"))
    records = {r["id"]: r for r in read_text_layer()}
    missing = [i for i in SAMPLE_IDS if i not in records]
    if missing:
        raise ValueError(f"The text layer lacks the sample records {missing}.")
    tts = get_renderer(renderer)
    plan = benchmark_voice_plan(tts)  # the voices of the test split, as the rendered configs use them
    os.makedirs(os.path.join(out_dir, "audio"), exist_ok=True)
    lines = []
    for rid in SAMPLE_IDS:
        for row in record_rows(records[rid]):
            key = row_voice_key(tts, plan, row)
            clip = tts.render(row["text"], row["style"], voice_key=key)
            file_name = f"audio/{row['id']}.flac"
            with open(os.path.join(out_dir, file_name), "wb") as f:
                f.write(clip.to_bytes())
            row.update(voice=tts.voice(row["style"], key), source=tts.name, file_name=file_name)
            lines.append(json.dumps(row, ensure_ascii=False))
    with open(os.path.join(out_dir, "metadata.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return out_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out_dir", help="where to write metadata.jsonl and audio/ (default: the package's "
                                          "data/sample folder)")
    return dash_aliases(parser)


def main(argv=None):
    args = build_parser().parse_args(argv)
    print(make_sample(args.out_dir))


if __name__ == "__main__":
    main()
