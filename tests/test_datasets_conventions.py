"""ParaS2SBench follows the `datasets` conventions: the name resolves in every `datasets` entry point, the info states
the builder's version and a license id, streamed splits have several shards, and `parass2s bench` shares the cache."""

import json
import os
import subprocess
import sys

import datasets
import pytest

import parass2s_hf
from parass2s_hf.bench import CONFIG_NAMES, ParaS2SBench
from parass2s_hf.bench.data_dir import read_metadata
from parass2s_hf.bench.loading import parass2sbench_builder
from parass2s_hf.bench.parass2s_bench import SAMPLE_DIR, SHARDS_PER_SPLIT
from parass2s_hf.bench.text_layer import read_text_layer, record_rows, select
from parass2s_hf.cli import main

INSPECT = """
import json
from datasets import (get_dataset_config_info, get_dataset_config_names, get_dataset_default_config_name,
                      get_dataset_infos, get_dataset_split_names, load_dataset_builder)
import parass2s_hf

infos = get_dataset_infos("parass2sbench")
print(json.dumps({
    "names": get_dataset_config_names("parass2sbench"),
    "default": get_dataset_default_config_name("parass2sbench"),
    "infos": {name: [str(info.version), info.license, sorted(info.splits)] for name, info in infos.items()},
    "sample_info": list(get_dataset_config_info("parass2sbench", "sample").splits),
    "splits": get_dataset_split_names("parass2sbench", "synthetic"),
    "builder": type(load_dataset_builder("parass2sbench", "meld")).__name__,
}))
"""


def test_inspect_functions_resolve_the_name_offline_with_an_empty_cache(tmp_path):
    """`datasets.inspect` imported the factory by name before the package hooked it: a fresh process, an empty cache,
    the functions imported from `datasets` before `parass2s_hf`."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_DATASETS_CACHE", None)
    out = subprocess.run([sys.executable, "-c", INSPECT], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=False, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["names"] == CONFIG_NAMES
    assert got["default"] == "synthetic"
    assert set(got["infos"]) == set(CONFIG_NAMES)
    assert got["infos"]["sample"] == ["0.2.0", "cc-by-4.0", ["test"]]
    assert got["infos"]["synthetic"] == ["0.2.0", "cc-by-4.0", ["test", "train"]]
    # Licensed corpora: the split is named without the user's folder; preparing still asks for it.
    assert got["infos"]["iemocap"][2] == got["infos"]["meld"][2] == ["test"]
    assert got["sample_info"] == ["test"] and got["splits"] == ["test", "train"]
    assert got["builder"] == "ParaS2SBench"


def test_inspect_functions_resolve_the_name_with_a_prepared_cache(sample_test):
    """With `sample` prepared in the cache, `datasets` used to find that folder and answer `['default']`."""
    assert datasets.get_dataset_config_names("parass2sbench") == CONFIG_NAMES
    info = datasets.get_dataset_config_info("parass2sbench", "sample")
    assert info.splits["test"].num_examples == 48 and str(info.version) == "0.2.0"
    assert datasets.get_dataset_split_names("parass2sbench", "iemocap") == ["test"]
    assert isinstance(datasets.load_dataset_builder("parass2sbench", "sample"), ParaS2SBench)


def test_other_names_still_reach_datasets_through_inspect(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises((ConnectionError, FileNotFoundError, ValueError)):
        datasets.get_dataset_config_names("definitely-not-parass2sbench")


def test_info_states_the_builder_version_and_a_license_id(sample_test, tmp_path):
    assert str(ParaS2SBench.VERSION) == "0.2.0"
    assert all(config.version == ParaS2SBench.VERSION for config in ParaS2SBench.BUILDER_CONFIGS)
    builder = datasets.load_dataset_builder("parass2sbench", "emotion", cache_dir=str(tmp_path))
    assert builder.info.version == ParaS2SBench.VERSION and "/0.2.0/" in builder.cache_dir.replace(os.sep, "/")
    assert sample_test.info.version == ParaS2SBench.VERSION
    assert builder.info.license == sample_test.info.license == "cc-by-4.0"


# ---- shards ----

def _no_audio(stream):
    return [dict(row) for row in stream.remove_columns("audio")]


def test_streamed_sample_has_several_shards_and_keeps_order_and_content(sample_test):
    stream = datasets.load_dataset("parass2sbench", "sample", split="test", streaming=True)
    assert stream.num_shards == SHARDS_PER_SPLIT > 1
    rows = _no_audio(stream)
    # the order of metadata.jsonl, and the rows of the prepared split
    sample_dir = os.path.join(os.path.dirname(parass2s_hf.bench.__file__), "data", SAMPLE_DIR)
    assert [r["id"] for r in rows] == [r["id"] for r in read_metadata(sample_dir)] == sample_test["id"]
    assert rows == [{k: v for k, v in row.items() if k != "audio"} for row in sample_test.remove_columns("audio")]
    # a second pass reads the same shards again (the rows of a shard are not consumed)
    assert _no_audio(stream) == rows
    # two workers' shares: disjoint, together every row
    shares = [_no_audio(stream.shard(num_shards=2, index=i)) for i in range(2)]
    assert sorted(r["id"] for share in shares for r in share) == sorted(sample_test["id"])


def _worker(row):
    from torch.utils.data import get_worker_info

    return {"worker": get_worker_info().id}


def test_dataloader_workers_share_a_streamed_split():
    from torch.utils.data import DataLoader

    stream = datasets.load_dataset("parass2sbench", "sample", split="test", streaming=True).select_columns(["id"])
    rows = list(DataLoader(stream.map(_worker), batch_size=None, num_workers=2))
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 48
    assert {r["worker"] for r in rows} == {0, 1}  # with one shard, the second worker had nothing to read


def test_rendered_splits_are_sharded_in_text_layer_order(tmp_path, small_layer):
    builder = parass2sbench_builder("sarcasm", cache_dir=str(tmp_path), text_layer=small_layer)
    stream = builder.as_streaming_dataset(split="test")
    assert stream.num_shards == 2  # two texts: one shard each
    records = read_text_layer(small_layer)
    expected = [row["id"] for rec in select(records, ("sarcasm",), "test") for row in record_rows(rec)]
    streamed = list(stream)
    assert [r["id"] for r in streamed] == expected
    builder.download_and_prepare()
    prepared = builder.as_dataset(split="test")
    assert prepared["id"] == expected
    assert [r["audio"].get_all_samples().data.shape for r in streamed] == \
           [r["audio"].get_all_samples().data.shape for r in prepared]


def test_full_synthetic_config_has_sixteen_shards_per_split_without_rendering():
    gens = parass2sbench_builder("synthetic")._split_generators(None)
    assert {g.name: len(g.gen_kwargs["shards"]) for g in gens} == {"test": SHARDS_PER_SPLIT, "train": SHARDS_PER_SPLIT}
    assert {g.name: g.split_info.num_examples for g in gens} == {"test": 2400, "train": 800}


def test_prepare_progress_bar_has_a_total(tmp_path, small_layer, monkeypatch):
    """The bar of the rendering prepare had no total, hence no ETA."""
    import datasets.builder

    totals, real = [], datasets.builder.hf_tqdm

    def recording(*args, **kwargs):
        totals.append((kwargs.get("desc"), kwargs.get("total")))
        return real(*args, **kwargs)

    monkeypatch.setattr(datasets.builder, "hf_tqdm", recording)
    parass2sbench_builder("sarcasm", cache_dir=str(tmp_path), text_layer=small_layer).download_and_prepare()
    assert totals == [("Generating test split", 4), ("Generating train split", 4)]


@pytest.fixture(scope="module")
def small_layer(tmp_path_factory):
    """Two texts per dimension and split from the shipped layer."""
    records = read_text_layer()
    picked = [r for d in ("sarcasm", "age") for split in ("test", "train")
              for r in [x for x in records if x["dimension"] == d and x["split"] == split][:2]]
    path = tmp_path_factory.mktemp("layer") / "small.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in picked))
    return str(path)


# ---- parass2s bench ----

def test_bench_load_and_load_dataset_share_one_cache(tmp_path, monkeypatch, capsys):
    cache = str(tmp_path / "cache")
    assert main(["bench", "load", "sample", "--cache_dir", cache]) == 0
    assert "num_rows: 48" in capsys.readouterr().out

    def no_generation(self, *args, **kwargs):
        raise AssertionError("prepared again instead of reusing the cache")

    monkeypatch.setattr(ParaS2SBench, "_generate_examples", no_generation)
    assert datasets.load_dataset("parass2sbench", "sample", split="test", cache_dir=cache).num_rows == 48


def test_bench_load_synthetic_prepares_into_the_load_dataset_folder(monkeypatch, capsys):
    """Without rendering 3,200 clips: the folder the command would prepare into is the one `load_dataset` reads."""
    used = []
    monkeypatch.setattr(ParaS2SBench, "download_and_prepare", lambda self, **kw: used.append(self.cache_dir))
    monkeypatch.setattr(ParaS2SBench, "as_dataset", lambda self, split=None: "prepared")
    assert main(["bench", "load", "synthetic"]) == 0
    assert used == [datasets.load_dataset_builder("parass2sbench", "synthetic").cache_dir]
    assert parass2s_hf.load_parass2sbench("synthetic", iemocap_dir=None, meld_dir=None) == "prepared"
    assert used[-1] == used[0]


def _bench_parsers():
    from parass2s_hf.bench import card, make_sample, real_corpora, text_lint
    from parass2s_hf.cli import build_parser

    top = build_parser()
    bench = next(a for a in top._actions if hasattr(a, "choices") and a.choices and "bench" in a.choices)
    bench = bench.choices["bench"]
    subs = next(a for a in bench._actions if hasattr(a, "choices") and a.choices and "load" in a.choices)
    parsers = {f"parass2s bench {name}": p for name, p in subs.choices.items()}
    parsers.update({module.__name__: module.build_parser() for module in (card, make_sample, real_corpora, text_lint)})
    return parsers


def test_every_bench_option_has_help_and_the_underscore_spelling():
    import argparse

    for name, parser in _bench_parsers().items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help"
            long = [o for o in action.option_strings if o.startswith("--")]
            assert all("-" not in o[2:] for o in long), f"{name}: {long} is not spelled with underscores"
            for option in long:
                if "_" in option:  # the dash spelling still parses, for one release
                    assert option.replace("_", "-") in parser._option_string_actions, (name, option)


def test_dash_spellings_are_hidden_deprecated_aliases(tmp_path, capsys):
    cache = str(tmp_path / "cache")
    assert main(["bench", "load", "sample", "--split", "test", "--cache-dir", cache]) == 0
    captured = capsys.readouterr()
    assert "--cache-dir is deprecated" in captured.err and "use --cache_dir" in captured.err
    assert os.path.isdir(os.path.join(cache, "parass2sbench"))
    with pytest.raises(SystemExit):
        main(["bench", "load", "--help"])
    help_text = capsys.readouterr().out
    assert "--cache_dir" in help_text and "--cache-dir" not in help_text and "--data-dir" not in help_text
