"""`parass2s build` end to end, offline: the issue's commands with a scripted LLM behind a local OpenAI-compatible
endpoint, espeak-ng, a tiny random Whisper for the verify stage's mechanics, the export loading through the builder,
the run summary accounting for every item, a recipe resuming after an interruption between stages."""

import json
import os

import pytest
from build_helpers import ScriptedLLM, serve_scripted_llm
from conftest import load_example

from parass2s_hf import cli
from parass2s_hf.construct import WorkDir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "PARASS2S_BUILD_TEST_KEY"


def accounted(summary: dict) -> None:
    """Every stage: items in == items out + items dropped (by reason)."""
    for stage, s in summary.items():
        assert s["in"] == s["out"] + sum(s["dropped"].values()), stage


def test_the_build_commands_run_end_to_end_and_the_export_loads(tmp_path, tiny, monkeypatch):
    import datasets

    import parass2s_hf  # noqa: F401  (installs the load_dataset("parass2sbench") hook)

    monkeypatch.setenv(KEY, "sk-test")
    work, out = tmp_path / "work" / "emo", tmp_path / "data" / "emo"
    scripted = ScriptedLLM(bad_json_every=2)
    with serve_scripted_llm(scripted) as base:
        llm = ["--llm", "scripted", "--llm_api_base", base, "--llm_api_key_env", KEY]
        assert cli.main(["build", "generate", *llm, "--dimension", "emotion", "--n", "8", "--out", str(work)]) == 0
        assert cli.main(["build", "filter", *llm, "--in", str(work)]) == 0
    assert cli.main(["build", "render", "--tts", "espeak-ng", "--in", str(work)]) == 0
    # a tiny random Whisper transcribes noise: a permissive threshold exercises the mechanics
    assert cli.main(["build", "verify", "--asr", tiny["asr"], "--max_wer", "1000", "--in", str(work)]) == 0
    assert cli.main(["build", "export", "--in", str(work), "--out", str(out)]) == 0

    summary = WorkDir(work).summary()
    assert list(summary) == ["generate", "filter", "render", "verify", "export"]
    accounted(summary)
    assert summary["generate"]["out"] == 8 and summary["generate"]["dropped"].get("unparseable output", 0) >= 1
    test = datasets.load_dataset("parass2sbench", "emotion", data_dir=str(out), split="test")
    exported = summary["export"]["out"]
    with open(out / "metadata.jsonl") as f:
        splits = {json.loads(line)["split"] for line in f}
    train = datasets.load_dataset("parass2sbench", "emotion", data_dir=str(out), split="train") \
        if "train" in splits else []
    assert len(test) + len(train) == exported > 0
    row = test[0]
    assert row["source"] == "espeak-ng" and row["reference_reply"] and row["audio"] is not None
    assert (out / "README.md").exists()


def test_a_recipe_resumes_after_an_interruption_between_stages(tmp_path, tiny, monkeypatch):
    import yaml

    monkeypatch.setenv(KEY, "sk-test")
    work, out = tmp_path / "work", tmp_path / "out"
    with serve_scripted_llm(ScriptedLLM()) as base:
        recipe = {"work_dir": str(work), "llm": {"model": "scripted", "api_base": base, "api_key_env": KEY},
                  "generate": {"dimension": "gender", "n": 4, "mode": "polytone"}, "filter": {},
                  "render": {"renderer": "espeak-ng", "voices_per_style": 2},
                  "verify": {"asr": tiny["asr"], "max_wer": 1000}, "export": {"out": str(out), "parquet": False}}
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(recipe))
        # interrupted after filter: only the first stages ran
        assert cli.main(["build", "all", "--recipe", str(path), "--stages", "generate", "filter"]) == 0
        before = WorkDir(work).summary()
        assert set(before) == {"generate", "filter"}
        assert cli.main(["build", "all", "--recipe", str(path)]) == 0
    summary = WorkDir(work).summary()
    accounted(summary)
    assert summary["generate"]["already_done"] == summary["generate"]["in"]  # nothing generated twice
    import datasets

    polytone = datasets.load_dataset("audiofolder", data_dir=str(out))
    assert sum(len(polytone[s]) for s in polytone) == summary["export"]["out"] > 0


def test_bad_build_input(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY, "sk-test")
    assert cli.main(["build", "render", "--tts", "no-such-renderer", "--in", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "no-such-renderer" in err or "generate" in err
    assert cli.main(["build", "generate", "--llm", str(tmp_path / "no-model"), "--dimension", "emotion", "--n", "2",
                     "--out", str(tmp_path / "w")]) == 2
    assert "no-model" in capsys.readouterr().err
    with serve_scripted_llm(ScriptedLLM()) as base:
        llm = ["--llm", "scripted", "--llm_api_base", base, "--llm_api_key_env", KEY]
        assert cli.main(["build", "generate", *llm, "--dimension", "emotion", "--n", "2", "--out",
                         str(tmp_path / "w")]) == 0
        # the same folder, other settings: refused, then allowed with --overwrite
        assert cli.main(["build", "generate", *llm, "--dimension", "emotion", "--n", "3", "--out",
                         str(tmp_path / "w")]) == 2
        assert "--overwrite" in capsys.readouterr().err
        assert cli.main(["build", "generate", *llm, "--dimension", "emotion", "--n", "3", "--out",
                         str(tmp_path / "w"), "--overwrite"]) == 0
    with pytest.raises(SystemExit):
        cli.main(["build", "nope"])


def test_the_build_example_runs_a_recipe(tmp_path, tiny):
    example = load_example("build_bench.py")
    recipe = {"work_dir": str(tmp_path / "w"), "llm": {"model": "scripted"},
              "generate": {"dimension": "age", "n": 4, "mode": "sft"}, "filter": {},
              "render": {"renderer": "espeak-ng"}, "verify": {"asr": tiny["asr"], "max_wer": 1000},
              "export": {"out": str(tmp_path / "out"), "parquet": False}}
    import yaml

    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    summary = example.main(str(tmp_path / "r.yaml"), llm=ScriptedLLM())
    accounted(summary)
    import datasets

    sft = datasets.load_dataset("audiofolder", data_dir=str(tmp_path / "out"))
    first = sft[next(iter(sft))][0]
    assert first["target"].startswith("[style: ")
