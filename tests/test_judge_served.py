"""Every judge stage served: against a local server on 127.0.0.1 that answers like vLLM (transcriptions, chat with
`input_audio` parts, logprobs), with faults: a 503 burst, a server that refuses logprobs, one that is down,
Audio-Reasoner-style answers, and no `openai` package."""

import json
import math
import socket
import sys

import numpy as np
import pytest
from conftest import tone
from vllm_stub import VLLMStub

from parass2s_hf.judge import JudgeConfig, JudgeItem, ParaS2SJudge
from parass2s_hf.models import EndpointUnreachable, expected_from_logits

KEY = "PARASS2S_SERVED_TEST_KEY"
QUERY = tone(1.0, 180)
REPLIES = [tone(1.2, 220), tone(0.8, 330), tone(1.5, 150), tone(0.9, 260)]


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv(KEY, "sk-served-secret")


def served(url, **kw):
    base = {"asr_model": "openai/whisper-large-v3", "audio_llm": "Qwen/Qwen2-Audio-7B-Instruct",
            "rubric_model": "Qwen/Qwen2.5-7B-Instruct", "asr_api_base": url, "audio_llm_api_base": url,
            "rubric_api_base": url, "api_key_env": KEY, "batch_size": 4}
    return JudgeConfig(**{**base, **kw})


def items(n=4, **kw):
    return [JudgeItem(QUERY, REPLIES[i % 4], 16000, dimension="emotion", item_id=f"p{i}", **kw) for i in range(n)]


def expected_score(score):
    """What the stub's logprobs give at a score digit: 0.7 on it, 0.1 on each neighbour."""
    logits = [-1e4] * 5
    logits[score - 1] = math.log(0.7)
    for n in (score - 1, score + 1):
        if 1 <= n <= 5:
            logits[n - 1] = math.log(0.1)
    return expected_from_logits(logits)


def test_the_whole_multistage_judge_served(tmp_path):
    stub = VLLMStub()
    with stub.serve() as url:
        judge = ParaS2SJudge(served(url))
        results = judge.score(items())
    assert [r.status for r in results] == ["ok"] * 4
    for r, reply in zip(results, REPLIES):
        seconds = len(reply) / 16000
        assert r.perception["response_text"] == f"words of a {seconds:.1f} second clip"
        assert r.perception["response_tone"] in ("calm and low", "bright and fast", "flat and slow", "warm and gentle")
        assert r.perception["query_style_source"] == "audio_llm" and r.perception["query_style"]
        assert r.score == 1 + round(seconds * 10) % 5
        # the expected score comes from the score's own token (the rationale's "4 tips" has other logprobs)
        assert r.score_expected == pytest.approx(expected_score(r.score))
    # one query, four responses: 5 transcriptions; 4 tones + 1 query style + 4 rubric calls = 9 chats
    assert stub.requests == {"/v1/audio/transcriptions": 5, "/v1/chat/completions": 9}
    tone_request = next(r for r in stub.seen if "Ignore the words" in json.dumps(r))
    assert tone_request["model"] == "Qwen/Qwen2-Audio-7B-Instruct"
    assert tone_request["messages"][0]["content"][0]["type"] == "input_audio"


def test_end_to_end_through_an_api_audio_model_is_b1_and_reward_model_served():
    stub = VLLMStub()
    with stub.serve() as url:
        e2e = ParaS2SJudge(served(url, mode="end2end")).score(items(2))
        rm = ParaS2SJudge(served(url, mode="reward_model")).score(items(2))
    assert all(r.status == "ok" and r.score_expected == pytest.approx(expected_score(r.score)) for r in e2e)
    request = next(r for r in stub.seen if "JSON object" in json.dumps(r))
    assert sum(p["type"] == "input_audio" for p in request["messages"][0]["content"]) == 2  # both clips heard
    assert all(r.status == "ok" and r.perception["digit_probability_mass"] == pytest.approx(0.9) for r in rm)
    assert [r.score for r in rm] == [1 + round(len(REPLIES[i]) / 16000 * 10) % 5 for i in range(2)]


def test_a_503_burst_mid_run_is_retried_and_later_items_keep_their_expected_scores():
    stub = VLLMStub(faults=[(6, 2, 503)])  # two failures in a row, mid-run: the client's retries absorb them
    with stub.serve() as url:
        judge = ParaS2SJudge(served(url))
        first = judge.score(items(2))
        later = judge.score([JudgeItem(QUERY, tone(0.7 + 0.1 * k, 200), 16000, dimension="emotion") for k in range(3)])
    assert all(r.status == "ok" and r.score_expected is not None for r in first + later)
    assert judge.rubric.logprobs is True  # a transient error never switches logprobs off
    assert sum(stub.requests.values()) == 8 + 9 + 2  # the two failed requests were sent again


def test_a_request_that_still_fails_is_that_items_missing_score():
    stub = VLLMStub(faults=[(0, 1000, 500)])
    with stub.serve() as url:
        cfg = served(url, mode="end2end", api_max_retries=0)
        results = ParaS2SJudge(cfg).score(items(2))
    assert all(r.status == "missing" and "endpoint error" in r.reason and "HTTP 500" in r.reason for r in results)


def test_a_server_without_logprobs_scores_with_the_reason_for_no_expected_score():
    stub = VLLMStub(logprobs=False)
    with stub.serve() as url:
        results = ParaS2SJudge(served(url, mode="end2end")).score(items(2))
    for r in results:
        assert r.status == "ok" and r.score is not None and r.score_expected is None
        assert r.reason.startswith("no score_expected: the audio_llm endpoint gives no logprobs")


def test_a_server_that_is_down_is_named_in_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    url = f"http://127.0.0.1:{port}/v1"
    judge = ParaS2SJudge(served(url, api_max_retries=0, api_timeout=5))
    with pytest.raises(EndpointUnreachable) as caught:
        judge.score(items(1))
    message = str(caught.value)
    assert "\n" not in message and url in message and "asr" in message and "unreachable" in message


def test_audio_reasoner_answers_keep_only_the_response_part():
    stub = VLLMStub(reasoner=True)
    with stub.serve() as url:
        [r] = ParaS2SJudge(served(url, tone_max_new_tokens=1024, style_max_new_tokens=256)).score(items(1))
    assert r.status == "ok"
    assert r.perception["response_tone"] in ("calm and low", "bright and fast", "flat and slow", "warm and gentle")
    assert r.perception["query_style"] in ("happy", "surprised", "sad", "angry", "fear", "disgust")
    rubric = next(q for q in stub.seen if q["messages"][0]["role"] == "system")
    assert "<THINK>" not in json.dumps(rubric) and "RESPONSE" not in json.dumps(rubric)


def test_missing_openai_package_is_an_error_when_the_judge_is_built(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)  # import openai now raises ImportError
    with pytest.raises(ImportError, match=r"served asr \(http://127.0.0.1:9/v1\).*pip install 'parass2s_hf\[api\]'"):
        ParaS2SJudge(served("http://127.0.0.1:9/v1"))


def test_fingerprint_covers_served_models_never_keys():
    base = served("http://127.0.0.1:8000/v1")
    assert base.fingerprint() == served("http://gpu-host:8001/v1").fingerprint()  # the same models, elsewhere
    assert base.fingerprint() != JudgeConfig(**{**base.to_dict(), "asr_api_base": None}).fingerprint()  # local ASR
    assert base.fingerprint() != served("http://127.0.0.1:8000/v1", audio_llm="gpt-4o-audio-preview").fingerprint()
    assert base.fingerprint() == served("http://127.0.0.1:8000/v1", api_key_env="OTHER", api_max_retries=9).fingerprint()
    assert "sk-served-secret" not in json.dumps(base.to_dict())
    with pytest.raises(ValueError, match="reward_adapter loads a LoRA adapter locally"):
        JudgeConfig(reward_api_base="http://x/v1", reward_adapter="lora/")


def test_served_clips_are_sent_as_wav():
    from parass2s_hf.models import audio_messages

    conv = [{"role": "user", "content": [{"type": "audio"}, {"type": "audio"}, {"type": "text", "text": "hi"}]}]
    messages = audio_messages(conv, [np.zeros(1600, np.float32), np.ones(800, np.float32) * 0.1])
    assert [p["type"] for p in messages[0]["content"]] == ["input_audio", "input_audio", "text"]
    assert messages[0]["content"][0]["input_audio"]["format"] == "wav"
    with pytest.raises(ValueError, match="more audio parts than clips"):
        audio_messages(conv, [np.zeros(1600, np.float32)])


def test_an_evaluation_judged_by_a_server_and_one_that_is_down(tmp_path, sample_test, capsys):
    """`parass2s evaluate` with the judge on the stub finishes; with the server down it stops at start-up with one line
    naming the setting and the server (the judge's own `EndpointUnreachable`, for a server that goes down mid-run, is
    tested above)."""
    import soundfile as sf

    from parass2s_hf import cli

    responses = tmp_path / "responses"
    responses.mkdir()
    for i, rid in enumerate(sample_test["id"][:8]):
        sf.write(responses / f"{rid}.wav", tone(0.6 + 0.1 * (i % 4), 200 + 10 * i), 16000)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    args = ["evaluate", "--system", "precomputed", "--responses", str(responses), "--dataset_config", "sample",
            "--allow_missing", "--output", str(tmp_path / "run"), "--n_resamples", "100", "--judge_mode", "end2end",
            "--judge_audio_llm", "gpt-4o-audio-preview", "--judge_api_key_env", KEY, "--judge_api_max_retries", "0"]
    assert cli.main([*args, "--judge_audio_llm_api_base", down]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line.lower()]  # not the progress bars
    assert len(err) == 1 and err[0].startswith("parass2s evaluate: error: ")
    assert down in err[0] and "--judge_audio_llm_api_base" in err[0] and "does not answer" in err[0]
    assert not (tmp_path / "run" / "generations.jsonl").exists()  # found at start-up, before any work
    stub = VLLMStub()
    with stub.serve() as url:
        assert cli.main([*args, "--judge_audio_llm_api_base", url]) == 0  # the same judge: the run resumes
    assert stub.requests == {"/v1/chat/completions": 8}
    with open(tmp_path / "run" / "report.json") as f:
        counts = json.load(f)["counts"]["total"]
    assert counts["status"]["ok"] == 8
