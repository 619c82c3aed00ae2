"""Sharded evaluation: the run's queries shared between processes by a stable rule, each shard with its own log parts
and lock, resumable alone; the last shard to finish (or `parass2s report`) merges the parts into the report, which is
the one-process run's. Under torchrun each process takes its shard from RANK / WORLD_SIZE (slow test)."""

import json
import os
import subprocess
import sys

import pytest
from test_evaluation_cli import judge_args, responses  # noqa: F401 - a fixture

from parass2s_hf import cli
from parass2s_hf.evaluation.runner import log_files, shard_of


def base_args(folder, out):
    return ["evaluate", "--system", "precomputed", "--responses", str(folder), "--dataset_config", "sample", "--limit", "3",
            "--output", str(out)]


def report(out):
    return json.loads((out / "report.json").read_text())


def test_the_shard_rule_is_stable_and_spreads_the_queries():
    ids = [f"emotion-test-{i:04d}-happy" for i in range(200)]
    first = [shard_of(i, 4) for i in ids]
    assert first == [shard_of(i, 4) for i in ids] and set(first) == {0, 1, 2, 3}
    assert all(shard_of(i, 1) == 0 for i in ids)


def test_two_shards_give_the_one_process_report(tmp_path, tiny, responses, capsys):  # noqa: F811
    judge = judge_args(tiny)
    one = tmp_path / "one"
    assert cli.main([*base_args(responses, one), *judge]) == 0
    sharded = tmp_path / "sharded"
    assert cli.main([*base_args(responses, sharded), *judge, "--num_shards", "2", "--shard_index", "0"]) == 0
    out = capsys.readouterr().out
    assert "shard 0 of 2 is done" in out and "remain" in out and not (sharded / "report.json").exists()
    parts = [os.path.basename(p) for p in log_files(str(sharded), "results.jsonl") if os.path.exists(p)]
    assert parts == ["results.shard-000-of-002.jsonl"]
    # a rerun of the finished shard does nothing more (it resumes alone) and still waits for the other
    assert cli.main([*base_args(responses, sharded), *judge, "--num_shards", "2", "--shard_index", "0"]) == 0
    assert "remain" in capsys.readouterr().out
    assert cli.main([*base_args(responses, sharded), *judge, "--num_shards", "2", "--shard_index", "1"]) == 0
    assert report(sharded) == report(one)  # the last shard merged every part
    # `parass2s report` merges the parts the same way
    os.remove(sharded / "report.json")
    assert cli.main(["report", str(sharded)]) == 0
    assert report(sharded) == report(one)
    capsys.readouterr()


def test_shard_settings_are_checked(tmp_path, tiny, responses, capsys):  # noqa: F811
    code = cli.main([*base_args(responses, tmp_path / "x"), *judge_args(tiny), "--num_shards", "2",
                     "--shard_index", "2"])
    assert code == 2 and "shard_index must be in 0 .. num_shards-1" in capsys.readouterr().err


@pytest.mark.slow
def test_two_processes_under_torchrun_give_the_one_process_report(tmp_path, tiny, responses):  # noqa: F811
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1"}
    one = tmp_path / "one"
    args = [*base_args(responses, one)[1:], *judge_args(tiny)]
    single = subprocess.run([sys.executable, "-m", "parass2s_hf.evaluation", *args], env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert single.returncode == 0, single.stderr[-3000:]
    two = tmp_path / "two"
    args = [*base_args(responses, two)[1:], *judge_args(tiny)]
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
                           "parass2s_hf.evaluation", *args], env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    assert done.returncode == 0, done.stderr[-5000:]
    parts = sorted(os.path.basename(p) for p in log_files(str(two), "results.jsonl") if os.path.exists(p))
    assert parts == ["results.shard-000-of-002.jsonl", "results.shard-001-of-002.jsonl"]
    assert report(two) == report(one)


def test_a_shard_killed_mid_run_resumes_alone(tmp_path, sample_test):
    from test_evaluation import ScriptedJudge, ScriptedSystem, run, without_measured_times

    _, one = run(tmp_path, sample_test, name="one")
    mine = [i for i in sample_test["id"] if shard_of(i, 2) == 0]
    crash = ScriptedSystem({mine[5]: "crash"})  # KeyboardInterrupt in the middle of shard 0's work: a killed process
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, sample_test, system=crash, name="sharded", num_shards=2, shard_index=0)
    system = ScriptedSystem()
    runner, report0 = run(tmp_path, sample_test, system=system, judge=ScriptedJudge(), name="sharded", num_shards=2,
                          shard_index=0)
    assert report0 is None and runner.pending > 0  # shard 1 has not run
    assert {rid for rid, _ in system.calls} <= set(mine) and len(system.calls) < len(mine)  # only what was left
    _, merged = run(tmp_path, sample_test, name="sharded", num_shards=2, shard_index=1)
    assert without_measured_times(merged) == without_measured_times(one)
