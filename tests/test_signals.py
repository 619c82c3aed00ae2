"""Objective signals per response: silence ratio, WER, speaking rate and real-time factor by hand; the report's
section and flags; `--signals asr` with the judge's transcripts or an ASR pass; resuming without measuring again;
`parass2s report`; the quality model; the GRPO reward's logged signals."""

import json
import os

import numpy as np
import pytest
import soundfile as sf
from conftest import tone
from test_evaluation import ScriptedJudge, ScriptedSystem, results, run

from parass2s_hf import cli
from parass2s_hf.evaluation import EvaluationConfig
from parass2s_hf.evaluation import cli as evaluation_cli
from parass2s_hf.evaluation.signals import (
    QualityModel,
    real_time_factor,
    silence_ratio,
    speaking_rate,
    word_error_rate,
)
from parass2s_hf.io import JsonlLog


def lines(folder):
    return {(line["id"], line["sample"]): line for line in JsonlLog(os.path.join(folder, "signals.jsonl"))}


class ScriptedASR:
    """Hears "stereo reply" as "mono", everything else as "reply 0"; counts the clips it transcribes."""

    model_id = "scripted-asr"

    def __init__(self):
        self.clips = 0

    def transcribe(self, arrays):
        self.clips += len(arrays)
        return ["mono" if len(a) == 16000 else "reply 0" for a in arrays]


# ---- one response, by hand ----
def test_silence_ratio_of_a_constructed_clip_follows_the_audio_door():
    from parass2s_hf import load_audio

    sound, silence = tone(0.5, 300), np.zeros(24000, np.float32)  # 0.5 s of tone, 1.5 s of nothing
    assert silence_ratio(np.concatenate([sound, silence]), 16000) == pytest.approx(0.75)
    assert silence_ratio(np.concatenate([silence[:4000], sound, silence[:4000]]), 16000) == pytest.approx(0.5)
    assert silence_ratio(sound, 16000) == 0.0 and silence_ratio(np.zeros(0), 16000) is None
    quiet = np.full(16000, 10 ** (-70 / 20), np.float32)  # -70 dBFS: below the door's silence level
    assert silence_ratio(quiet, 16000) == 1.0 and load_audio(quiet, 16000).is_silent


def test_wer_speaking_rate_and_real_time_factor_by_hand():
    assert word_error_rate("The cat sat on the mat.", "the cat sat on a mat") == pytest.approx(1 / 6)
    assert word_error_rate("Hello there!", "hello, there") == 0.0
    assert word_error_rate("Hello there", "") == 1.0
    assert speaking_rate("one two three", 1.5) == pytest.approx(2.0) and speaking_rate("x", 0.0) is None
    assert real_time_factor(0.5, 2.0) == 0.25
    assert real_time_factor(None, 2.0) is None and real_time_factor(1.0, 0) is None
    import doctest

    from parass2s_hf.evaluation import signals

    assert doctest.testmod(signals).failed == 0  # the module's examples run as written


# ---- the evaluation report ----
def test_the_report_carries_the_free_signals(tmp_path, sample_test):
    _, report = run(tmp_path, sample_test, limit=2)
    signals = report["signals"]
    assert signals["settings"]["level"] == "free" and signals["settings"]["max_wer"] == 0.5
    assert list(signals["columns"]) == ["age", "emotion", "gender", "sarcasm", "all"]
    everything = signals["columns"]["all"]
    assert everything["responses"] == everything["with_audio"] == 8
    assert everything["duration"] == {"mean": 0.5, "n": 8}  # ScriptedSystem answers with a 0.5 s tone
    assert everything["silence_ratio"] == {"mean": 0.0, "n": 8} and everything["flagged"] == 0
    assert everything["generate_seconds"]["n"] == 8 and everything["rtf"]["mean"] is not None
    assert "speaking_rate" not in everything and "wer" not in everything  # free: no ASR
    line = next(iter(lines(tmp_path / "run").values()))
    record = results(tmp_path / "run")[(line["id"], 0)]
    assert line["rtf"] == pytest.approx(record["timings"]["generate"] / 0.5, abs=1e-3)
    md = (tmp_path / "run" / "report.md").read_text()
    assert "## Objective signals" in md and "| subset | responses | with audio | duration (s) | silence ratio |" in md
    assert "| all | 8 | 8 | 0.500 | 0.000 |" in md and "`--signals asr` adds them" in md


def first_ids(dataset, dimension, n):
    """The first `n` record ids of `dimension`, in dataset order (what `limit=n` selects)."""
    return [r["id"] for r in dataset.select_columns(["id", "dimension"]) if r["dimension"] == dimension][:n]


def run_with_asr(tmp_path, dataset, system, asr, judge=None, **kwargs):
    from parass2s_hf.evaluation import EvaluationRunner

    config = EvaluationConfig(output_dir=str(tmp_path / "run"), dataset_config="sample", batch_size=4,
                              n_resamples=50, signals="asr", **kwargs)
    return EvaluationRunner(system, judge or ScriptedJudge(mode="reward_model"), config, dataset=dataset,
                            asr=asr).run()


def test_signals_asr_adds_wer_and_rate_and_flags_responses(tmp_path, sample_test):
    age = first_ids(sample_test, "age", 4)
    ids = sorted(age)[:3]
    system = ScriptedSystem({ids[0]: "silent", ids[1]: "stereo44k", ids[2]: "error"})
    asr = ScriptedASR()
    report = run_with_asr(tmp_path, sample_test, system, asr, dimensions=["age"], limit=4, max_silence_ratio=0.6)
    got = lines(tmp_path / "run")
    assert asr.clips == 3  # the three responses with audio (the system error has none)
    silent, stereo, failed = (got[(i, 0)] for i in ids)
    assert silent["silence_ratio"] == 1.0 and silent["wer"] is None and silent["missing"] == {"wer": "no_text"}
    assert silent["speaking_rate"] == 1.0  # "mono", one word in 1 s
    assert stereo["wer"] == 1.0 and stereo["transcript"] == "mono" and stereo["transcript_source"] == "asr"
    assert failed["duration"] is None and failed["missing"]["wer"] == "no_audio"
    fine = next(line for key, line in got.items() if key[0] not in ids)
    assert fine["wer"] == 0.0 and fine["speaking_rate"] == 4.0  # "reply 0" heard as "reply 0" in 0.5 s
    signals = report["signals"]
    assert signals["settings"]["level"] == "asr" and signals["settings"]["asr_model"] == "scripted-asr"
    assert signals["columns"]["age"]["wer"] == {"mean": 0.5, "n": 2}
    assert signals["missing"]["wer"] == {"no_audio": 1, "no_text": 1} and signals["transcripts"] == {"asr": 3}
    flagged = signals["flagged"]
    assert (flagged["count"], flagged["wer"], flagged["silence_ratio"]) == (2, 1, 1)
    assert [(f["id"], f["why"]) for f in flagged["responses"]] == [(ids[0], ["silence 1.000 > 0.6"]),
                                                                    (ids[1], ["WER 1.000 > 0.5"])]
    md = (tmp_path / "run" / "report.md").read_text()
    assert "| speaking rate (words/s) | WER | flagged |" in md and "| age | 4 | 3 |" in md
    assert f"| {ids[1]} | 0 | age | 1.000 | 0.000 | WER 1.000 > 0.5 |" in md
    assert "1 no_text (the system gave no text" in md and "- 1 response(s) without any signal: no_audio" in md


def test_the_multistage_judges_transcripts_are_reused(tmp_path, sample_test):
    _, report = run(tmp_path, sample_test, dimensions=["gender"], limit=2, signals="asr")  # no ASR anywhere
    signals = report["signals"]
    assert signals["transcripts"] == {"judge": 2} and signals["settings"]["transcripts"] == "judge, else an ASR pass"
    assert signals["columns"]["all"]["wer"] == {"mean": 1.0, "n": 2}  # the judge heard "x" for "reply 0"
    assert signals["flagged"]["wer"] == 2


def test_signals_are_not_measured_again_on_a_rerun(tmp_path, sample_test):
    failing = first_ids(sample_test, "emotion", 3)[1]
    system, settings = ScriptedSystem({failing: "raise"}), {"dimensions": ["emotion"], "limit": 3}
    first_asr = ScriptedASR()
    first = run_with_asr(tmp_path, sample_test, system, first_asr, **settings)
    before = (tmp_path / "run" / "signals.jsonl").read_text()
    assert first_asr.clips == 2
    again = ScriptedASR()
    second = run_with_asr(tmp_path, sample_test, system, again, **settings)
    assert again.clips == 0 and second == first and (tmp_path / "run" / "signals.jsonl").read_text() == before
    # other thresholds: the same lines, new flags, no ASR pass
    strict = run_with_asr(tmp_path, sample_test, system, again, max_wer=0.0, max_silence_ratio=0.0, **settings)
    assert again.clips == 0 and (tmp_path / "run" / "signals.jsonl").read_text() == before
    assert strict["signals"]["settings"]["max_wer"] == 0.0 and strict["signals"]["flagged"]["count"] == 0
    # a response made again (--retry_failed) is another response: measured again, alone
    run_with_asr(tmp_path, sample_test, ScriptedSystem(), again, retry_failed=True, **settings)
    assert again.clips == 1 and lines(tmp_path / "run")[(failing, 0)]["duration"] == 0.5


def test_the_report_command_rebuilds_the_signals(tmp_path, sample_test, capsys):
    silent = first_ids(sample_test, "emotion", 2)[0]
    report = run_with_asr(tmp_path, sample_test, ScriptedSystem({silent: "silent"}), ScriptedASR(),
                          dimensions=["emotion"], limit=2)
    out = tmp_path / "run"
    written = {name: (out / name).read_bytes() for name in ("report.json", "report.md")}
    os.remove(out / "report.json")
    os.remove(out / "report.md")
    assert cli.main(["report", str(out)]) == 0
    assert {name: (out / name).read_bytes() for name in written} == written  # the runner's, byte for byte
    os.remove(out / "signals.jsonl")  # no lines: the free signals from the files, the rest missing and said so
    capsys.readouterr()
    assert cli.main(["report", str(out)]) == 0
    rebuilt = json.loads((out / "report.json").read_text())["signals"]
    for name in ("duration", "silence_ratio", "generate_seconds", "rtf"):
        assert rebuilt["columns"]["all"][name] == report["signals"]["columns"]["all"][name], name
    assert rebuilt["columns"]["all"]["wer"] == {"mean": None, "n": 0}
    assert rebuilt["missing"]["wer"] == {"not_computed": 2} and rebuilt["flagged"]["silence_ratio"] == 1
    assert "2 response(s) had no line in signals.jsonl" in capsys.readouterr().err


def test_signal_settings_on_the_command_line():
    _, config, _ = evaluation_cli.parse_args(["--system", "precomputed", "--responses", "r", "--output", "o",
                                              "--signals", "asr", "--quality_model", "my/mos", "--max_wer", "0.3",
                                              "--max_silence_ratio", "0.2"])
    assert (config.signals, config.quality_model, config.max_wer, config.max_silence_ratio) == ("asr", "my/mos", 0.3,
                                                                                                 0.2)
    _, default, _ = evaluation_cli.parse_args(["--system", "precomputed", "--responses", "r", "--output", "o"])
    assert (default.signals, default.quality_model, default.max_wer, default.max_silence_ratio) == ("free", None, 0.5,
                                                                                                    0.5)
    with pytest.raises(ValueError, match="signals must be one of"):
        EvaluationConfig(output_dir="o", signals="all")
    with pytest.raises(ValueError, match="max_silence_ratio must be a number between 0 and 1"):
        EvaluationConfig(output_dir="o", max_silence_ratio=1.5)


def test_evaluate_with_signals_asr_end_to_end(tmp_path, tiny, sample_test):
    rows = first_ids(sample_test, "age", 2)
    folder = tmp_path / "responses"
    folder.mkdir()
    half = np.concatenate([tone(0.5, 250), np.zeros(24000, np.float32)])  # 75% silent: flagged
    sf.write(folder / "a.wav", tone(1.0, 220), 16000)
    sf.write(folder / "b.wav", half, 16000)
    with open(folder / "manifest.jsonl", "w") as f:
        f.write(json.dumps({"id": rows[0], "audio": "a.wav", "text": "I am glad to hear that."}) + "\n")
        f.write(json.dumps({"id": rows[1], "audio": "b.wav"}) + "\n")
    out = tmp_path / "run"
    assert cli.main(["evaluate", "--system", "precomputed", "--responses", str(folder / "manifest.jsonl"),
                     "--dataset_config", "sample", "--dimensions", "age", "--limit", "2", "--output", str(out),
                     "--judge_mode", "reward_model", "--judge_audio_llm", tiny["audio_llm"], "--judge_asr_model",
                     tiny["asr"], "--signals", "asr", "--n_resamples", "50"]) == 0
    signals = json.loads((out / "report.json").read_text())["signals"]
    assert signals["transcripts"] == {"asr": 2} and signals["settings"]["asr_model"] == tiny["asr"]
    assert signals["columns"]["all"]["wer"]["n"] == 1 and signals["columns"]["all"]["speaking_rate"]["n"] == 2
    assert signals["missing"]["generate_seconds"] == {"precomputed": 2}  # made elsewhere: no generation time
    assert rows[1] in [f["id"] for f in signals["flagged"]["responses"]]
    md = (out / "report.md").read_text()
    assert "| WER |" in md and "2 precomputed (precomputed responses were generated elsewhere" in md


# ---- the quality model ----
def test_the_quality_model_gives_its_regression_output_or_expected_label(tmp_path):
    import torch
    from transformers import AutoConfig, Wav2Vec2ForSequenceClassification

    from parass2s_hf.testing import build_tiny_audio_classifier

    classes = build_tiny_audio_classifier(str(tmp_path / "mos"), ["1", "2", "3", "4", "5"])
    clips = [tone(0.5, 200), tone(1.0, 400, amp=0.1)]
    quality = QualityModel(classes)
    scores = quality.score(clips)
    probs = []
    for clip in clips:  # one at a time: the batch's padding changes nothing (an attention mask, layer norms)
        inputs = quality.backend.extractor([clip], sampling_rate=16000, return_tensors="pt")
        with torch.inference_mode():
            probs.append(quality.backend.model(**inputs).logits.softmax(-1)[0].numpy())
    probs = np.stack(probs)
    assert scores == pytest.approx(list(probs @ np.arange(1, 6)), abs=1e-4) and all(1 <= s <= 5 for s in scores)
    config = AutoConfig.from_pretrained(classes)
    config.num_labels, config.problem_type = 1, "regression"
    Wav2Vec2ForSequenceClassification(config).save_pretrained(tmp_path / "reg")
    quality.backend.extractor.save_pretrained(tmp_path / "reg")
    regression = QualityModel(str(tmp_path / "reg"))
    assert regression.values is None and len(regression.score(clips)) == 2
    words = build_tiny_audio_classifier(str(tmp_path / "words"), ["bad", "good"])
    with pytest.raises(ValueError, match=r"quality_model '.*words'.*labels \['bad', 'good'\].*numbers"):
        QualityModel(words)


# ---- GRPO ----
def test_the_grpo_reward_logs_duration_silence_and_wer_when_asked(sample_test):
    from test_grpo import FixedJudge

    from parass2s_hf import load_audio
    from parass2s_hf.align import ParaS2SGRPOConfig, ParaS2SReward

    row = sample_test[0]
    query = {"array": load_audio(row["audio"]).array, "sampling_rate": 16000}
    completions = ["[style: cheerful] That is great news!", "[style: calm] Fine.", ""]

    class Heard(ScriptedASR):
        def transcribe(self, arrays):
            self.clips += len(arrays)
            return ["that is great news", "nine"]

    for signals, asr in (((), None), (["wer"], Heard())):
        metrics, judge = {}, FixedJudge()
        reward = ParaS2SReward(judge, signals=signals, asr=asr)
        reward(None, completions, audio=[query] * 3, log_metric=metrics.__setitem__)
        spoken = [item.response_audio for item in judge.items]
        durations = [len(a) / 16000 for a in spoken]
        assert metrics["parass2s/signals/duration"] == pytest.approx(np.mean(durations))
        assert metrics["parass2s/signals/silence_ratio"] == pytest.approx(
            np.mean([silence_ratio(a, 16000) for a in spoken]))
        if asr is None:
            assert "parass2s/signals/wer" not in metrics
        else:
            assert asr.clips == 2 and metrics["parass2s/signals/wer"] == pytest.approx((0 + 1) / 2)
    with pytest.raises(ValueError, match="signals"):
        ParaS2SReward(FixedJudge(), signals=["mos"])
    with pytest.raises(ValueError, match="reward_signals"):
        ParaS2SGRPOConfig(output_dir="x", reward_signals=["mos"], use_cpu=True, bf16=False)
    assert ParaS2SGRPOConfig(output_dir="x", reward_signals="wer", use_cpu=True, bf16=False).reward_signals == ["wer"]


def test_the_models_of_the_signals_are_checked_at_start_up(tmp_path, tiny, capsys):
    from parass2s_hf.testing import build_tiny_audio_classifier

    words = build_tiny_audio_classifier(str(tmp_path / "words"), ["bad", "good"])
    out = tmp_path / "run"
    code = cli.main(["evaluate", "--system", "precomputed", "--responses", str(tmp_path), "--dataset_config", "sample",
                     "--output", str(out), "--judge_mode", "reward_model", "--judge_audio_llm", tiny["audio_llm"],
                     "--signals", "asr", "--judge_asr_model", str(tmp_path / "no_such_asr"), "--quality_model", words])
    err = capsys.readouterr().err
    assert code == 2 and "2 settings are wrong" in err and "--judge_asr_model" in err and "no_such_asr" in err
    assert "--quality_model" in err and "['bad', 'good']" in err
    assert not out.exists()  # no work was started


def test_the_grpo_trainer_asks_its_reward_for_the_signals_and_checks_their_asr(tmp_path, tiny):
    from test_grpo import FixedJudge, grpo_args

    from parass2s_hf.align import ParaS2SGRPOTrainer
    from parass2s_hf.models import PreflightError

    args = grpo_args(tmp_path, tiny, reward_signals=["wer"])
    assert ParaS2SGRPOTrainer._default_reward(args, FixedJudge()).signals == ["wer"]
    args.judge_config["asr_model"] = str(tmp_path / "no_such_asr")
    with pytest.raises(PreflightError, match=r"judge_config\.asr_model.*no_such_asr"):
        ParaS2SGRPOTrainer._preflight(tiny["audio_llm"], args, None)
    ParaS2SGRPOTrainer._preflight(tiny["audio_llm"], grpo_args(tmp_path, tiny), None)  # no WER: no ASR to check
