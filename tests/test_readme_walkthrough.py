"""The README, walked through as a newcomer would after a fresh clone: every shell command and every Python snippet,
offline, in an empty folder (with the repository's `examples/` and `dataset_card/` beside it, as in a clone). Each must
either run (the paths built on the tiny random checkpoints) or stop with one line that says what is missing (a
checkpoint not downloaded, a key not exported, a corpus not there, a GPU): never a traceback from this package.

Slow (about three minutes: a few tiny training and evaluation runs, many start-up checks): `.ci/run` runs it."""

import ast
import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")

NOT_OURS = ("python3 -m venv", "python -m pytest", "vllm serve")
"""Commands the walk-through does not run: the install and test commands (CI runs them), other projects' servers."""
MUST_RUN = ("python -m parass2s_hf.testing tiny/", "--judge_audio_llm tiny/qwen2_audio --output runs/demo",
            "parass2s bench load sample", "parass2s bench lint", "parass2s bench card --check", "parass2s compare runs/",
            "grpo_cpu_smoke.yaml", "reward_model_cpu_smoke.yaml", "loop_cpu_smoke.yaml", "torchrun --standalone")
"""Commands that run as written offline (the tiny checkpoints, the shipped data); every other one may stop, in a line."""
DEPENDENCY_NOISE = ("Skipping publisher trust check", "Failed to load CPU gemm_4bit_forward", "RuntimeWarning",
                    "warnings.warn", "FutureWarning", "UserWarning", "DeprecationWarning")
"""Warnings printed by dependencies on a CPU machine offline (bitsandbytes' kernel lookup), not errors."""


def readme_text() -> str:
    with open(README, encoding="utf-8") as f:
        return f.read()


def shell_commands(text: str) -> list[str]:
    """Every command of the README's bash blocks: continuation lines joined, comments and `[optional]` parts dropped."""
    commands = []
    for body in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in body.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s\[[^\]]*\]", "", re.sub(r"\s+#.*$", "", line)).strip()
            if line and not line.startswith("#"):
                commands.append(" ".join(line.split()))
    return commands


def python_snippets(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """An empty working folder laid out like a fresh clone's root, and an environment with no key and no network."""
    folder = tmp_path_factory.mktemp("clone")
    for name in ("examples", "dataset_card"):
        os.symlink(os.path.join(REPO, name), folder / name)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(folder / "hf"), PYTHONWARNINGS="ignore")
    env.pop("HF_DATASETS_CACHE", None)
    return folder, env


def _error_lines(stderr: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return [line for line in lines if not any(noise in line for noise in DEPENDENCY_NOISE)
            and not re.match(r"^(INFO|WARNING) |^\s*\d+%\||.*\|.*it/s\]|^Writing model shards|^Loading weights", line)]


@pytest.mark.slow
def test_every_readme_command_runs_or_says_in_one_line_what_is_missing(clone):
    folder, env = clone
    commands = shell_commands(readme_text())
    assert len(commands) > 25 and any("--output runs/demo" in c for c in commands)
    report = []
    for command in commands:
        if command.startswith(NOT_OURS):
            continue
        if command.startswith("export "):
            name, _, value = command[len("export "):].partition("=")
            env[name] = value
            continue
        done = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=600, check=False)
        lines = _error_lines(done.stderr)
        report.append((command, done.returncode, lines[-3:]))
        if any(marker in command for marker in MUST_RUN):
            assert done.returncode == 0, (command, done.stderr[-3000:])
            continue
        if done.returncode == 0:
            continue
        if command.startswith("accelerate launch"):  # accelerate reports its child's exit with its own trace
            assert any(re.match(r"^train_grpo\.py: error: ", line) for line in lines), (command, done.stderr[-3000:])
            continue
        assert "Traceback" not in done.stderr, (command, done.stderr[-3000:])
        errors = [line for line in lines if re.search(r"(^|: )error: ", line)]
        assert len(errors) == 1, (command, lines)
        # a count of wrong settings is followed by one line per setting ("  - ..."), nothing else
        after = lines[lines.index(errors[0]) + 1:]
        assert all(line.startswith("  - ") for line in after), (command, lines)
    print(json.dumps(report, indent=1))


STATEMENT_RUNNER = r'''
import ast, json, sys, traceback
source = open(sys.argv[1]).read()
namespace, outcomes = {"__name__": "__main__"}, []
for node in ast.parse(source).body:
    code = ast.get_source_segment(source, node)
    try:
        exec(compile(ast.Module([node], []), "<readme>", "exec"), namespace)
        outcomes.append([code, None, None])
    except Exception as e:
        outcomes.append([code, type(e).__name__, str(e)])
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef)):
            break  # what follows needs it
json.dump(outcomes, open(sys.argv[2], "w"))
'''

MISSING = ("PreflightError", "DataDirError", "CorpusNotFoundError", "EmptyDatasetError", "NameError")
"""What a snippet statement may stop with offline: a model, a key, a folder, a corpus not there; or a name the statement
before it would have defined (`NameError`, only after such a stop)."""


def _snippet_outcomes(folder, env, source: str, name: str) -> list:
    path = folder / f"{name}.py"
    path.write_text(source)
    runner = folder / "run_statements.py"
    runner.write_text(STATEMENT_RUNNER)
    done = subprocess.run([sys.executable, str(runner), str(path), str(folder / f"{name}.json")], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((folder / f"{name}.json").read_text())


@pytest.mark.slow
def test_every_readme_python_snippet_runs_or_stops_at_what_is_missing(clone):
    folder, env = clone
    if not (folder / "tiny").exists():
        subprocess.run([sys.executable, "-m", "parass2s_hf.testing", "tiny/"], cwd=folder, env=env, check=True,
                       capture_output=True)
    snippets = python_snippets(readme_text())
    assert len(snippets) >= 6
    for k, source in enumerate(snippets):
        # placeholders a reader fills in: the judge's inputs (two clips), the `data_dir` of an `iemocap_dir="..."`
        source = source.replace("query_audio=[...], response_audio=[...]",
                                "query_audio=['q.wav'], response_audio=['r.wav']")
        if "query_audio=['q.wav']" in source:
            import numpy as np
            import soundfile as sf

            t = np.arange(16000) / 16000
            sf.write(folder / "q.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
            sf.write(folder / "r.wav", (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 16000)
            source = source.replace("dimension=[...], query_style=[...], requirement=[...]",
                                    "dimension=['emotion'], query_style=['sad'], requirement=['soft tone']")
        outcomes = _snippet_outcomes(folder, env, source, f"snippet_{k}")
        stopped = False
        for code, error, message in outcomes:
            if error is None:
                continue
            if error == "NameError":
                assert stopped, (k, code, message)  # only a consequence of an earlier stop
                continue
            # a ValueError only for a key not exported, or transformers' bf16 check on a machine without a GPU
            assert error in MISSING or (error == "ValueError" and ("API key" in message or "bf16/gpu" in message)), (
                k, code, error, message)
            first, *rest = message.splitlines()
            assert all(line.startswith("  - ") for line in rest), (k, code, message)
            assert not rest or re.match(r"^\d+ settings? (is|are) wrong:$", first), (k, code, message)
            stopped = True
        assert ast.parse(source)  # the snippet is valid Python as printed
