"""The command line's conventions: one flag style (underscores; the dash spellings as deprecated aliases), `--version`
and `--help` without the heavy libraries, `--config FILE` on every command, `--dataset_config`, `--quiet` and
`--log_level`, `compare`'s labels and sizes, and no needless library notes in a run."""

import dataclasses
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from test_report import _write_run, all_six

from parass2s_hf import cli
from parass2s_hf.construct.cli import build_parser as build_build_parser
from parass2s_hf.evaluation import cli as evaluation_cli
from parass2s_hf.evaluation.versus_cli import build_parser as build_versus_parser
from parass2s_hf.listen.cli import build_parser as build_listen_parser
from parass2s_hf.validation.cli import build_parser as build_validation_parser

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _long_flags(parser):
    """Every long flag `--help` shows, through subcommands."""
    import argparse

    flags = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags += _long_flags(sub)
        elif action.help != argparse.SUPPRESS:
            flags += [o for o in action.option_strings if o.startswith("--")]
    return flags


@pytest.mark.parametrize("make", [build_build_parser, build_validation_parser, evaluation_cli.build_parser, cli.build_parser,
                                  build_listen_parser, build_versus_parser],
                         ids=["build", "validate-judge", "evaluate", "parass2s", "listen", "versus"])
def test_one_flag_style_underscores(make):
    shown = _long_flags(make())
    assert shown
    dashed = [f for f in shown if "-" in f[2:]]
    assert not dashed, f"flags spelled with dashes in --help: {dashed}"


def test_dash_spellings_still_work_with_a_deprecation_message(capsys):
    args = build_build_parser().parse_args(["verify", "--in", "w", "--max-wer", "0.3"])
    assert args.max_wer == 0.3
    assert "--max-wer is deprecated" in capsys.readouterr().err
    parser = build_validation_parser()
    args = parser.parse_args(["--probes", "--judge-asr", "my/asr", "--judge-max-new-tokens", "7", "--n-resamples", "5"])
    assert (args.judge_asr_model, args.judge_rubric_max_new_tokens, args.n_resamples) == ("my/asr", 7, 5)
    err = capsys.readouterr().err
    assert "--judge-asr is deprecated" in err and "use --judge_asr_model" in err
    *_, judge = evaluation_cli.parse_args(["--system", "precomputed", "--responses", "r", "--output", "o",
                                           "--judge-audio-llm", "x"])
    assert judge.judge_audio_llm == "x"
    assert "--judge-audio-llm is deprecated" in capsys.readouterr().err


def test_evaluate_and_validate_judge_name_judge_settings_alike():
    validate = set(_long_flags(build_validation_parser()))
    evaluate = set(_long_flags(evaluation_cli.build_parser()))
    judge_flags = {f for f in validate if f.startswith("--judge_") and f != "--judge_field"}
    assert judge_flags and judge_flags <= evaluate, judge_flags - evaluate


def test_version_and_help_import_no_heavy_library():
    code = ("import sys; from parass2s_hf import cli\n"
            "try:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'evaluate', 'trl') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    for flag in ("--version", "--help"):
        out = subprocess.run([sys.executable, "-c", code, flag], capture_output=True, text=True, timeout=120, check=False,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"}).stdout
        assert "HEAVY []" in out, out
    out = subprocess.run([sys.executable, "-m", "parass2s_hf.cli", "--version"], capture_output=True, text=True,
                         timeout=120, check=False).stdout
    import parass2s_hf

    assert out.strip() == f"parass2s_hf {parass2s_hf.__version__}"


def test_evaluate_help_is_grouped_with_examples_and_real_defaults(capsys):
    with pytest.raises(SystemExit):
        evaluation_cli.parse_args(["--help"])
    text = capsys.readouterr().out
    for title in ("the system under test:", "the run: data, resuming, sharding, report:", "the judge (", "examples:"):
        assert title in text
    assert "openai/whisper-large-v3" in text and "Qwen/Qwen2.5-7B-Instruct" in text
    assert "(default: None)" not in text
    assert "--llm-api-base" not in text


def test_dataset_config_flag_and_the_old_spelling(capsys):
    _, config, _ = evaluation_cli.parse_args(["--system", "precomputed", "--responses", "r", "--output", "o",
                                              "--dataset_config", "sample"])
    assert config.dataset_config == "sample"
    _, config, _ = evaluation_cli.parse_args(["--system", "precomputed", "--responses", "r", "--output", "o",
                                              "--config", "sample"])
    assert config.dataset_config == "sample"
    assert "use --dataset_config sample" in capsys.readouterr().err


def test_evaluate_config_file_gives_defaults_that_flags_override(tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump({"system": "precomputed", "responses": "answers/", "dataset_config": "sample",
                                    "output": "runs/x", "limit": 3, "judge_mode": "reward_model"}))
    system, config, judge = evaluation_cli.parse_args(["--config", str(path), "--limit", "5"])
    assert (system.system, system.responses, config.dataset_config, config.output_dir) == (
        "precomputed", "answers/", "sample", "runs/x")
    assert config.limit == 5 and judge.judge_mode == "reward_model"
    # the older form: one YAML file as the only argument
    _, config, _ = evaluation_cli.parse_args([str(path)])
    assert config.limit == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"system": "precomputed", "sytem_dtype": "auto"}))
    with pytest.raises(SystemExit):
        evaluation_cli.parse_args(["--config", str(bad)])


def test_config_file_on_build_validate_compare_and_report(tmp_path, capsys):
    build_yaml = tmp_path / "verify.yaml"
    build_yaml.write_text(yaml.safe_dump({"in": "work/x", "max_wer": 0.25, "asr": "my/asr"}))
    from parass2s_hf import cli_style

    args = cli_style.parse_args(build_build_parser(), ["verify", "--config", str(build_yaml)])
    assert (args.work, args.max_wer, args.asr) == ("work/x", 0.25, "my/asr")
    args = cli_style.parse_args(build_build_parser(), ["verify", "--config", str(build_yaml), "--max_wer", "0.5"])
    assert args.max_wer == 0.5
    val_yaml = tmp_path / "validate.yaml"
    val_yaml.write_text(yaml.safe_dump({"ratings": "r.csv", "n_resamples": 10, "judge_asr_model": "a"}))
    args = cli_style.parse_args(build_validation_parser(), ["--config", str(val_yaml)])
    assert (args.ratings, args.n_resamples, args.judge_asr_model) == ("r.csv", 10, "a")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump({"max_werr": 1}))
    with pytest.raises(SystemExit):
        cli_style.parse_args(build_build_parser(), ["verify", "--in", "w", "--config", str(wrong)])
    assert "unknown argument(s) max_werr" in capsys.readouterr().err

    runs = [_write_run(tmp_path / name, all_six(shift=s)) for name, s in (("a", 0), ("b", 1))]
    compare_yaml = tmp_path / "compare.yaml"
    compare_yaml.write_text(yaml.safe_dump({"runs": [str(r) for r in runs], "output": str(tmp_path / "board")}))
    assert cli.main(["compare", "--config", str(compare_yaml)]) == 0
    assert (tmp_path / "board" / "leaderboard.md").is_file()
    report_yaml = tmp_path / "report.yaml"
    report_yaml.write_text(yaml.safe_dump({"runs": [str(runs[0])]}))
    # a folder without results.jsonl: the report command reads the file and answers with its one-line error
    assert cli.main(["report", "--config", str(report_yaml)]) == 2
    assert "parass2s report: error:" in capsys.readouterr().err


def test_compare_labels_clashing_names_by_folder_and_marks_smaller_runs(tmp_path, capsys):
    records = all_six()
    a = _write_run(tmp_path / "cascade-a", records, label="cascade")
    b = _write_run(tmp_path / "cascade-b", all_six(shift=1), label="cascade")
    c = _write_run(tmp_path / "one-item", records[:1], label="cascade")
    assert cli.main(["compare", str(a), str(b), str(c), "--output", str(tmp_path / "board")]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("| 1 ", "| 2 ", "| 3 "))]
    labels = [line.split("|")[2].strip() for line in rows]
    assert sorted(labels) == ["cascade-a", "cascade-b", "one-item"]
    assert "Runs of different size" in out
    row = next(line for line in rows if "one-item" in line)
    assert row.split("|")[-3].strip().endswith("*")
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    assert {r["label"]: r["items"] for r in board["rows"]}["one-item"] == 1


def test_compare_tells_a_cli_user_what_to_run(tmp_path, capsys):
    (tmp_path / "unfinished").mkdir()
    assert cli.main(["compare", str(tmp_path / "unfinished")]) == 2
    err = capsys.readouterr().err
    assert "write_report" not in err and "parass2s evaluate" in err and "parass2s report" in err


def test_grpo_config_overrides_only_what_differs_from_trl():
    from trl import GRPOConfig

    from parass2s_hf.align import ParaS2SGRPOConfig

    stock = {f.name: f for f in dataclasses.fields(GRPOConfig)}
    import inspect

    own = inspect.get_annotations(ParaS2SGRPOConfig)
    for name in own:
        if name in stock:
            ours = next(f for f in dataclasses.fields(ParaS2SGRPOConfig) if f.name == name)
            assert ours.default != stock[name].default, f"{name} re-declared with TRL's own default"


def test_progress_bars_honour_tqdm_disable_set_after_import(monkeypatch, capsys):
    import tqdm.auto  # noqa: F401 - imported before the variable is set, as in a real run

    from parass2s_hf.progress import progress

    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress(range(3), desc="x").disable
    monkeypatch.delenv("TQDM_DISABLE")
    assert not progress(range(3), desc="x").disable
    assert progress(range(3), desc="x", off=True).disable
    from parass2s_hf.evaluation.runner import _progress

    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert _progress(5, "judge").disable


def test_quiet_turns_bars_and_library_logs_off(monkeypatch):
    from parass2s_hf import cli_style

    for name in ("TQDM_DISABLE", "HF_DATASETS_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_PROGRESS_BARS"):
        monkeypatch.delenv(name, raising=False)
    import transformers

    before = transformers.logging.get_verbosity()
    try:
        cli_style.apply_verbosity(quiet=True)
        assert os.environ["TQDM_DISABLE"] == "1"
        assert logging.getLogger("parass2s_hf").level == logging.ERROR
        assert logging.getLogger("transformers").level == logging.ERROR
        assert not transformers.utils.logging.is_progress_bar_enabled()
        cli_style.apply_verbosity(log_level="info")
        assert logging.getLogger("parass2s_hf").level == logging.INFO
    finally:
        transformers.utils.logging.enable_progress_bar()
        transformers.logging.set_verbosity(before)
        logging.getLogger("parass2s_hf").setLevel(logging.NOTSET)
        import datasets
        import huggingface_hub

        datasets.enable_progress_bars()
        huggingface_hub.utils.enable_progress_bars()


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_generation_makes_no_expected_notes(tiny):
    """The ASR and LLM backends set `max_new_tokens` on purpose: transformers' 'Both max_new_tokens and max_length'
    note (printed once per batch before) is not logged; other messages still are."""
    from parass2s_hf.models.local import ASRBackend, TextLLMBackend
    from parass2s_hf.models.settings import LoadSettings

    logger = logging.getLogger("transformers")
    collect = _Collect()
    logger.addHandler(collect)
    try:
        asr = ASRBackend(tiny["asr"], LoadSettings(batch_size=2), max_new_tokens=6)
        asr.transcribe([np.zeros(8000, dtype=np.float32), np.zeros(12000, dtype=np.float32)])
        llm = TextLLMBackend(tiny["text_llm"], LoadSettings(batch_size=2))
        llm.generate([[{"role": "user", "content": "hi"}], [{"role": "user", "content": "hello there"}]], 4)
        logging.getLogger("transformers.generation.utils").warning("an unrelated note")
    finally:
        logger.removeHandler(collect)
    assert not [m for m in collect.messages if m.startswith("Both `max_new_tokens`")], collect.messages
    assert "an unrelated note" in collect.messages


def test_4bit_on_cpu_with_a_tiny_layer_says_why(tiny):
    pytest.importorskip("bitsandbytes")
    import torch

    from parass2s_hf.models.local import AudioLLMBackend
    from parass2s_hf.models.settings import LoadSettings

    if not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        pytest.skip("bitsandbytes' repacking CPU kernels need AVX512-BF16")
    try:
        AudioLLMBackend(tiny["audio_llm"], LoadSettings(load_in_4bit=True), role="reward_model")
    except ValueError as e:
        message = str(e)
    else:
        import bitsandbytes.nn

        layer = next(m for m in AudioLLMBackend(tiny["audio_llm"], LoadSettings(load_in_4bit=True)).model.modules()
                     if isinstance(m, bitsandbytes.nn.Linear4bit))
        assert not layer.support_avx512bf16_for_cpu  # the generic kernels take any size
        return
    assert "cannot run in 4-bit on this CPU" in message and "multiple of 64" in message
    assert "reward_model" in message and "takes 32 inputs" in message


def test_offline_kernel_notes_are_dropped():
    code = ("import logging, sys; logging.basicConfig(level=logging.WARNING)\n"
            "import parass2s_hf\n"
            "logging.getLogger('kernels._internals.hf_hub').warning(\"Skipping publisher trust check for "
            "'kernels-community/x' because Hugging Face Hub is in offline mode.\")\n"
            "logging.getLogger('bitsandbytes.backends.cpu.ops').warning('Failed to load CPU gemm_4bit_forward from "
            "kernels-community: offline')\n"
            "logging.getLogger('bitsandbytes.backends.cpu.ops').warning('another bitsandbytes note')\n")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}).stderr
    assert "Skipping publisher trust check" not in err and "gemm_4bit_forward" not in err
    assert "another bitsandbytes note" in err


def test_building_the_grpo_config_warns_of_nothing_deprecated():
    """TRL's GRPOConfig turns activation checkpointing on through its transformers-4 name, which transformers 5 warns
    about at every config built; ParaS2SGRPOConfig sets the same default through the new name."""
    import warnings

    from parass2s_hf.align import ParaS2SGRPOConfig

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        config = ParaS2SGRPOConfig(output_dir="unused", use_cpu=True, bf16=False)
    assert config.activation_checkpointing and config.gradient_checkpointing
    config = ParaS2SGRPOConfig(output_dir="unused", use_cpu=True, bf16=False, activation_checkpointing=False)
    assert not config.activation_checkpointing and not config.gradient_checkpointing
