"""The dataset card is generated from the code and data; the CLI reaches the bench functions."""

import os
import re

import datasets
import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from parass2s_hf.bench import CONFIG_NAMES, ParaS2SBench
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
    [split] = configs["sample"]["splits"]
    assert split["name"] == "test" and split["num_examples"] == 48 and split["num_bytes"] > 0


# The Hub's accepted values for the fields this card sets (its metadata validator rejects anything else).
HUB_SIZE_CATEGORIES = ("n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B")
HUB_AUDIO_TASKS = ("audio-classification", "audio-to-audio", "automatic-speech-recognition", "text-to-speech",
                   "text-to-audio", "voice-activity-detection")
MEASURED = ("sample", "emotion", "sarcasm", "age", "gender", "synthetic")
LICENSED = ("iemocap", "meld", "all")


def _size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
    return next(name for bound, name in bounds if n < bound)


def test_card_parses_as_a_hub_dataset_card_with_the_fields_the_hub_requires():
    card = DatasetCard.load(CARD)
    data = card.data
    assert isinstance(data, DatasetCardData)
    assert data.pretty_name and data.language == ["en"]
    # a license id, the builder's own, not free text
    assert re.fullmatch(r"[a-z0-9.-]+", data.license) and data.license == ParaS2SBench().info.license
    assert set(data.task_categories) <= set(HUB_AUDIO_TASKS)
    entries = {entry["config_name"]: entry for entry in data.dataset_info}
    assert list(entries) == CONFIG_NAMES
    # datasets reads a Hub card's dataset_info with this, for every config
    infos = datasets.info.DatasetInfosDict.from_dataset_card_data(data)
    assert all(info.features == FEATURES for info in infos.values())
    for name in MEASURED:  # shipped or rendered from the shipped texts: measured sizes, never 0
        entry = entries[name]
        assert entry["splits"] and all(s["num_bytes"] > 0 and s["num_examples"] > 0 for s in entry["splits"]), name
        assert entry["dataset_size"] == sum(s["num_bytes"] for s in entry["splits"]), name
        assert entry["download_size"] == 0, name  # rendered or shipped: nothing is downloaded
    for name in LICENSED:  # the user's copies of IEMOCAP/MELD: unknown, so left out rather than written as 0
        entry = entries[name]
        assert "dataset_size" not in entry and "download_size" not in entry, name
        assert "splits" not in entry, name
    assert "| `iemocap` | unknown (your licensed copy) |" in card.text
    largest = max(sum(s["num_examples"] for s in entries[name]["splits"]) for name in MEASURED)
    assert data.size_categories == [_size_category(largest)] and data.size_categories[0] in HUB_SIZE_CATEGORIES


def test_card_sizes_are_what_datasets_measures_when_preparing(sample_test):
    """`sample` is cheap to prepare: its card sizes must be exactly what `datasets` records."""
    entry = next(e for e in DatasetCard.load(CARD).data.dataset_info if e["config_name"] == "sample")
    stale = "the card's sizes are stale: run `python -m parass2s_hf.bench.card --measure`"
    assert entry["splits"] == [{"name": "test", "num_bytes": sample_test.info.splits["test"].num_bytes,
                                "num_examples": 48}], stale
    assert entry["dataset_size"] == sample_test.info.dataset_size, stale


def test_card_check_from_another_folder_checks_the_repository_card(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no dataset_card/ here: the check must still find the checkout's card
    assert main(["bench", "card", "--check"]) == 0
    assert f"{CARD} is up to date" in capsys.readouterr().out


def test_card_check_without_a_checkout_says_no_card_was_found(tmp_path, monkeypatch, capsys):
    from parass2s_hf.bench import card

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(card, "repository_card_path", lambda: None)  # an installed copy: no card ships with it
    assert main(["bench", "card", "--check"]) == 2
    err = capsys.readouterr().err
    assert f"No dataset card at {tmp_path / 'dataset_card' / 'README.md'}" in err
    assert "repository's dataset_card/README.md" in err and "out of date" not in err


def test_card_check_says_where_a_stale_card_differs(tmp_path, capsys):
    stale = tmp_path / "README.md"
    lines = generate_card().splitlines(keepends=True)
    lines[4] = "license: other\n"
    stale.write_text("".join(lines), encoding="utf-8")
    assert main(["bench", "card", "--check", "--output", str(stale)]) == 1
    err = capsys.readouterr().err
    assert f"{stale} is out of date" in err and "from line 5 on" in err


def test_cli_card_check_and_lint(capsys):
    assert main(["bench", "card", "--check", "--output", CARD]) == 0
    assert main(["bench", "lint"]) == 0  # the shipped layer, with the full-size counts
    assert "1600 records, 0 problems" in capsys.readouterr().err
    assert main(["bench", "lint", text_layer_path()]) == 0
