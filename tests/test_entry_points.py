"""`load_dataset("parass2sbench")` and `load_parass2sbench`: the wrapper of a private datasets function is guarded
here, so a datasets upgrade that breaks it fails these tests loudly."""

import dataclasses
import inspect
import os
import subprocess
import sys

import datasets
import datasets.load
import pytest

import parass2s_hf
from parass2s_hf.bench import ParaS2SBench


def test_the_private_api_we_wrap_still_has_the_shape_we_rely_on():
    fields = [f.name for f in dataclasses.fields(datasets.load.DatasetModule)]
    assert fields[:3] == ["module_path", "hash", "builder_kwargs"], fields
    source = inspect.getsource(datasets.load.load_dataset_builder)
    # load_dataset_builder must look the factory up in datasets.load's globals at call time
    assert "dataset_module_factory(" in source
    assert datasets.load.dataset_module_factory._parass2s_hook
    wrapped = datasets.load.dataset_module_factory.__wrapped__
    assert "path" in inspect.signature(wrapped).parameters


def test_builder_resolves_by_name_with_its_configs(tmp_path):
    builder = datasets.load_dataset_builder("parass2sbench", cache_dir=str(tmp_path))
    assert isinstance(builder, ParaS2SBench)
    assert builder.config.name == "synthetic"
    assert [c.name for c in ParaS2SBench.BUILDER_CONFIGS] == [
        "sample", "emotion", "sarcasm", "age", "gender", "synthetic", "iemocap", "meld", "all"]


def test_load_dataset_by_name_and_streaming(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty folder: nothing to find but the packaged builder
    ds = datasets.load_dataset("parass2sbench", "sample", split="test", cache_dir=str(tmp_path / "c"))
    assert len(ds) == 48
    stream = datasets.load_dataset("parass2sbench", "sample", split="test", streaming=True)
    assert isinstance(stream, datasets.IterableDataset)
    first = next(iter(stream))
    assert first["id"] == ds[0]["id"] and first["audio"].get_all_samples().sample_rate == 16000


def test_other_names_still_go_to_datasets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises((ConnectionError, FileNotFoundError, ValueError)):
        datasets.load_dataset("definitely-not-parass2sbench")


def test_readme_line_works_from_another_folder_in_a_fresh_process(tmp_path):
    """The issue's acceptance line, offline, from a folder outside the repository."""
    code = ("import parass2s_hf, datasets; "
            "print(datasets.load_dataset('parass2sbench', 'sample', split='test'))")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "num_rows: 48" in out.stdout


def test_load_parass2sbench_public_function(tmp_path):
    dd = parass2s_hf.load_parass2sbench("sample", cache_dir=str(tmp_path))
    assert list(dd) == ["test"] and dd["test"].num_rows == 48


def test_importing_the_package_imports_neither_evaluate_nor_transformers(tmp_path):
    """`evaluate` imports `transformers.pipelines` (seconds): the name hook waits for `evaluate.loading` instead, so
    a command that needs neither (a finished run's rerun, `parass2s report`) starts fast, and the hook still works."""
    code = ("import sys, parass2s_hf; "
            "print(sorted(m for m in ('evaluate', 'transformers', 'torch') if m in sys.modules)); "
            "import evaluate.loading as el; print(el.evaluation_module_factory._parass2s_hook)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=False, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["[]", "True"], out.stdout


def test_the_evaluate_hook_patches_an_evaluate_imported_before_the_package():
    import evaluate.loading as el

    from parass2s_hf.judge.loading import install_evaluate_hook

    assert install_evaluate_hook() and el.evaluation_module_factory._parass2s_hook
