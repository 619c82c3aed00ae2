"""`examples/parass2s_loop.py` with a Qwen2.5-Omni policy: the Omni recipes plan `--system omni` runs, the SFT's merged
Omni as GRPO's start and the GRPO adapter on it; an Omni base is detected from its config.json. The CPU recipe runs
end to end (slow, a few minutes) with a tiny Omni whose vocoder is made audible (the untouched one speaks silence:
nothing to distill)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import load_example

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "examples", "configs")


@pytest.fixture(scope="module")
def loop():
    return load_example("parass2s_loop.py")


def _after(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


@pytest.mark.parametrize("name", ["loop_omni_cpu_smoke.yaml", "loop_omni_gpu.yaml"])
def test_the_omni_recipes_plan_omni_runs_at_every_stage(loop, name, monkeypatch):
    monkeypatch.chdir(REPO)  # the recipes name their stage configs from the repository root
    recipe = loop.load_recipe(os.path.join(CONFIGS, name))
    assert recipe["policy"] == "omni"
    commands = loop.stage_commands(recipe)
    assert list(commands) == ["sft", "sample", "distill", "grpo", "evaluate", "compare"]
    base, sft_dir = recipe["base_model"], recipe["sft"]["output_dir"]
    merged, grpo_dir = os.path.join(sft_dir, "merged"), recipe["grpo"]["output_dir"]
    [(sft, sft_done)] = commands["sft"]
    assert sft[1].endswith("train_sft.py") and _after(sft, "--model_name_or_path") == base
    assert _after(sft, "--output_dir") == sft_dir and _after(sft, "--merge_output_dir") == merged
    assert sft_done == os.path.join(merged, "config.json")  # the whole merged Omni, not only the adapter
    [(sample, _)] = commands["sample"]
    assert _after(sample, "--system") == "omni" and _after(sample, "--model") == merged
    assert "--adapter" not in sample and _after(sample, "--split") == recipe["train"]["split"]
    assert _after(sample, "--num_samples") == str(recipe["sample"]["num_samples"])
    [(distill, _)] = commands["distill"]
    assert _after(distill, "--run_dir") == recipe["sample"]["output_dir"]
    assert base not in distill and merged not in distill  # the reward model is an audio LLM: the distill config's
    with open(os.path.join(REPO, _after(distill, "--config"))) as f:
        assert "qwen2" in f.read().split("model_name_or_path:")[1].split()[0].lower()
    [(grpo, grpo_done)] = commands["grpo"]
    assert grpo[1].endswith("train_grpo.py") and _after(grpo, "--model_name_or_path") == merged
    assert _after(grpo, "--config") == recipe["grpo"]["config"] and "omni" in recipe["grpo"]["config"]
    assert _after(grpo, "--judge_config") == "@distilled" and grpo_done == os.path.join(grpo_dir, "adapter_config.json")
    runs = {_after(c, "--label"): c for c, _ in commands["evaluate"]}
    assert list(runs) == ["base", "sft", "grpo"]
    assert all(_after(c, "--system") == "omni" for c in runs.values())
    assert [_after(c, "--model") for c in runs.values()] == [base, merged, merged]
    assert "--adapter" not in runs["base"] and "--adapter" not in runs["sft"]
    assert _after(runs["grpo"], "--adapter") == grpo_dir
    # sampling and the table speak in GRPO's voice, with the same judge
    assert {_after(c, "--voice") for c in [sample, *runs.values()]} == {"Chelsie"}
    judges = {tuple(c[c.index("--judge_mode"):]) for c in [sample, *runs.values()]}
    assert len(judges) == 1


def test_the_audio_llm_recipes_still_plan_policy_runs(loop, monkeypatch):
    monkeypatch.chdir(REPO)
    for name in ("loop_cpu_smoke.yaml", "loop_gpu.yaml"):
        recipe = loop.load_recipe(os.path.join(CONFIGS, name))
        assert recipe["policy"] == "audio_llm"
        commands = loop.stage_commands(recipe)
        systems = {_after(c, "--system") for c, _ in [*commands["sample"], *commands["evaluate"]]}
        assert systems == {"policy"}
        assert _after(commands["distill"][0][0], "--model_name_or_path") == recipe["base_model"]


def _checkpoint(folder, model_type: str) -> str:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"model_type": model_type}, f)
    return str(folder)


def _recipe(tmp_path, text: str) -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return str(path)


def test_an_omni_base_is_detected_from_its_config_json(loop, tmp_path):
    omni = _checkpoint(tmp_path / "omni", "qwen2_5_omni")
    audio = _checkpoint(tmp_path / "audio", "qwen2_audio")
    recipe = loop.load_recipe(_recipe(tmp_path, f"work_dir: w\nbase_model: {omni}\n"))
    assert recipe["policy"] == "omni"
    assert _after(loop.stage_commands(recipe)["evaluate"][0][0], "--system") == "omni"
    assert loop.load_recipe(_recipe(tmp_path, f"work_dir: w\nbase_model: {audio}\n"))["policy"] == "audio_llm"
    # a Hub id that is not cached cannot be read offline: audio_llm, unless the recipe says omni
    absent = "nobody-here/not-a-model-xyz"
    assert loop.load_recipe(_recipe(tmp_path, f"work_dir: w\nbase_model: {absent}\n"))["policy"] == "audio_llm"
    said = loop.load_recipe(_recipe(tmp_path, f"work_dir: w\nbase_model: {absent}\npolicy: omni\n"))
    assert said["policy"] == "omni"
    # a recipe that contradicts the checkpoint, or names no known policy, is refused
    with pytest.raises(ValueError, match="policy is 'audio_llm', but base_model .* 'qwen2_5_omni'"):
        loop.load_recipe(_recipe(tmp_path, f"work_dir: w\nbase_model: {omni}\npolicy: audio_llm\n"))
    with pytest.raises(ValueError, match="policy must be one of"):
        loop.load_recipe(_recipe(tmp_path, f"work_dir: w\nbase_model: {omni}\npolicy: talker\n"))


def test_an_omni_recipe_that_speaks_otherwise_than_grpo_is_refused(loop, tmp_path):
    omni = _checkpoint(tmp_path / "omni", "qwen2_5_omni")
    grpo = tmp_path / "grpo.yaml"
    grpo.write_text("omni_speaker: Chelsie\nomni_generate_kwargs: {talker_max_new_tokens: 6}\n")
    head = f"work_dir: w\nbase_model: {omni}\ngrpo: {{config: {grpo}}}\n"
    same = "{voice: Chelsie, system_generate_kwargs: {talker_max_new_tokens: 6}}"
    ok = loop.load_recipe(_recipe(tmp_path, head + f"sample: {{args: {same}}}\nevaluate: {{args: {same}}}\n"))
    assert _after(loop.stage_commands(ok)["sample"][0][0], "--voice") == "Chelsie"
    # a JSON string is the same arguments
    as_json = '{voice: Chelsie, system_generate_kwargs: \'{"talker_max_new_tokens": 6}\'}'
    loop.load_recipe(_recipe(tmp_path, head + f"sample: {{args: {as_json}}}\nevaluate: {{args: {same}}}\n"))
    with pytest.raises(ValueError, match=r"evaluate\.args\.voice is 'Ethan', but the GRPO stage speaks with "
                                         r"omni_speaker 'Chelsie'"):
        loop.load_recipe(_recipe(tmp_path, head + f"sample: {{args: {same}}}\n"
                                 "evaluate: {args: {voice: Ethan, system_generate_kwargs: {talker_max_new_tokens: 6}}}\n"))
    with pytest.raises(ValueError, match=r"sample\.args\.system_generate_kwargs is None.*omni_generate_kwargs"):
        loop.load_recipe(_recipe(tmp_path, head + "sample: {args: {voice: Chelsie}}\n"
                                 f"evaluate: {{args: {same}}}\n"))
    # the recipe's grpo.args are GRPO's settings too
    over = head.replace("}\n", "}, args: {omni_speaker: Ethan}}\n", 1).replace(f"config: {grpo}}}", f"config: {grpo}")
    with pytest.raises(ValueError, match="omni_speaker 'Ethan'"):
        loop.load_recipe(_recipe(tmp_path, over + f"sample: {{args: {same}}}\nevaluate: {{args: {same}}}\n"))


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(os.path.join(CONFIGS, "grpo_omni_cpu_smoke.yaml")),
                    reason="the GRPO Omni CPU recipe (examples/configs/grpo_omni_cpu_smoke.yaml) is not there yet")
def test_the_omni_cpu_loop_runs_end_to_end_and_a_rerun_skips_its_stages(tmp_path):
    os.symlink(os.path.join(REPO, "examples"), tmp_path / "examples")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    subprocess.run([sys.executable, "-m", "parass2s_hf.testing", "tiny/", "--omni_audible"], cwd=tmp_path, env=env,
                   check=True, capture_output=True)
    command = [sys.executable, "examples/parass2s_loop.py", "--config", "examples/configs/loop_omni_cpu_smoke.yaml"]
    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=2400, check=False)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-4000:]
    work = tmp_path / "runs" / "loop-omni-cpu"
    assert (work / "sft" / "adapter_config.json").exists() and (work / "sft" / "merged" / "spk_dict.pt").exists()
    # the reward model learnt the Omni's own spoken samples, on the tiny audio LLM
    report = json.loads((work / "reward_model" / "reward_model_report.json").read_text())
    assert report["judge_config"]["reward_model"].endswith("tiny/qwen2_audio"), report["judge_config"]
    board = json.loads((work / "leaderboard" / "leaderboard.json").read_text())
    assert sorted(r["label"] for r in board["rows"]) == ["base", "grpo", "sft"]
    assert all(r["columns"]["synthetic_average"]["mean"] is not None for r in board["rows"]), board["rows"]
    systems = {p: json.loads((work / f"eval_{p}" / "manifest.json").read_text())["system"] for p in ("base", "sft",
                                                                                                     "grpo")}
    assert {s["name"] for s in systems.values()} == {"omni"}, systems
    assert systems["base"]["config"]["model"] == "tiny/omni_audible"
    assert systems["sft"]["config"]["model"] == systems["grpo"]["config"]["model"] == "runs/loop-omni-cpu/sft/merged"
    assert systems["grpo"]["config"]["adapter"] == "runs/loop-omni-cpu/grpo"
    assert "adapter" not in systems["sft"]["config"]
    assert {s["config"]["speaker"] for s in systems.values()} == {"Chelsie"}
    assert (work / "grpo" / "parass2s_omni_policy.json").exists()
    timings = json.loads((work / "loop.json").read_text())
    assert set(timings) == {"sft", "sample", "distill", "grpo", "evaluate", "compare"}
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr[-4000:]
    done = [line for line in again.stdout.splitlines() if " done: " in line]
    assert len(done) == 7, again.stdout  # sft, sample, distill, grpo and the three evaluations
