"""The dataset card is generated from the code and data; the CLI reaches the bench functions."""

import os

import yaml

from parass2s_hf.bench.card import generate_card, read_render_stats
from parass2s_hf.bench.features import FEATURES
from parass2s_hf.bench.text_layer import text_layer_hash, text_layer_path
from parass2s_hf.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CARD = os.path.join(REPO, "dataset_card", "README.md")


def test_render_stats_match_the_text_layer():
    stats = read_render_stats()
    assert stats is not None and stats["text_layer_sha256"] == text_layer_hash(), (
        "bench/data/render_stats.json is stale: run `python -m parass2s_hf.bench.card --measure`")


def test_card_is_up_to_date():
    with open(CARD, encoding="utf-8") as f:
        current = f.read()
    assert current == generate_card(), "dataset_card/README.md is out of date: run `python -m parass2s_hf.bench.card`"


def test_card_header_is_generated_from_the_features():
    header = yaml.safe_load(generate_card().split("---\n")[1])
    configs = {info["config_name"]: info for info in header["dataset_info"]}
    assert set(configs) == {"sample", "emotion", "sarcasm", "age", "gender", "synthetic", "iemocap", "meld", "all"}
    names = [f["name"] for f in configs["sample"]["features"]]
    assert names == list(FEATURES)
    audio = next(f for f in configs["sample"]["features"] if f["name"] == "audio")
    assert audio["dtype"] == {"audio": {"sampling_rate": 16000}}
    assert configs["sample"]["splits"] == [{"name": "test", "num_bytes": 0, "num_examples": 48}]


def test_cli_card_check_and_lint(capsys):
    assert main(["bench", "card", "--check", "--output", CARD]) == 0
    assert main(["bench", "lint"]) == 0  # the shipped layer, with the full-size counts
    assert "1600 records, 0 problems" in capsys.readouterr().err
    assert main(["bench", "lint", text_layer_path()]) == 0
