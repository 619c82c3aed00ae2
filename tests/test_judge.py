"""The judge: every mode end to end on tiny random checkpoints (through from_pretrained), exact scores and
aggregation with scripted backends (tests only), parsing, caching, the OpenAI-compatible backend, bad input."""

import json
import os
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import numpy as np
import pytest
import soundfile as sf
from conftest import tone

from parass2s_hf.judge import JudgeConfig, JudgeItem, JudgeParseError, ParaS2SJudge
from parass2s_hf.models import Generation, expected_from_logits

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(tiny, **kw):
    base = {"asr_model": tiny["asr"], "audio_llm": tiny["audio_llm"], "rubric_model": tiny["text_llm"], "batch_size": 4,
            "rubric_max_new_tokens": 12, "tone_max_new_tokens": 6, "asr_max_new_tokens": 6}
    return JudgeConfig(**{**base, **kw})


QUERY = tone(1.0, 180)
REPLIES = [tone(1.2, 220), tone(0.8, 330), tone(1.5, 150, amp=0.5)]


def items(n=3, **kw):
    return [JudgeItem(QUERY, REPLIES[i % 3], sampling_rate=16000, dimension="emotion", item_id=f"p{i}", **kw)
            for i in range(n)]


# ---- scripted backends: tests only ----

class ScriptedASR:
    model_id = "scripted-asr"

    def __init__(self):
        self.stats = Counter()

    def transcribe(self, arrays):
        self.stats.update(calls=1, inputs=len(arrays))
        return [f"words of a {len(a) / 16000:.1f} second clip" for a in arrays]


class ScriptedAudioLLM:
    model_id = "scripted-audio-llm"

    def __init__(self, style="sad"):
        self.style = style
        self.stats = Counter()

    def generate(self, conversations, audios, max_new_tokens):
        self.stats.update(calls=1, inputs=len(conversations))
        out = []
        for conv in conversations:
            prompt = conv[-1]["content"][-1]["text"]
            out.append(Generation(self.style if "Which one fits" in prompt else "calm, low and slow"))
        return out


class ScriptedRubric:
    """Answers from a list, in order (cycled), recording the prompts it saw."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.seen = []
        self.stats = Counter()

    def generate(self, messages, max_new_tokens):
        self.stats.update(calls=1, inputs=len(messages))
        out = []
        for m in messages:
            self.seen.append(m)
            out.append(Generation(self.answers[(len(self.seen) - 1) % len(self.answers)]))
        return out


def scripted_judge(answers, **kw):
    return ParaS2SJudge(JudgeConfig(**kw), asr=ScriptedASR(), audio_llm=ScriptedAudioLLM(), rubric=ScriptedRubric(answers))


# ---- every mode, real tiny models through from_pretrained ----

def test_multistage_on_tiny_models_reports_garbage_as_missing_with_reason(tiny):
    judge = ParaS2SJudge(tiny_config(tiny, mode="multistage"))
    results = judge.score(items())
    assert [r.status for r in results] == ["missing"] * 3
    assert all(r.score is None and r.score_expected is None for r in results)
    assert all(r.reason.startswith("no score after 2 attempt(s)") for r in results)
    assert results[0].perception["query_style_source"] == "audio_llm"
    stats = judge.stats()
    assert stats["asr"]["inputs"] == 4  # one query + three responses: the shared query is transcribed once
    assert stats["retries"] == 3


def test_end2end_on_tiny_models(tiny):
    results = ParaS2SJudge(tiny_config(tiny, mode="end2end")).score(items(2))
    assert all(r.status == "missing" and "no score" in r.reason for r in results)
    assert all(r.raw for r in results)  # the raw answer is kept for auditing


def test_reward_model_scores_are_expected_values_that_follow_the_audio(tiny):
    judge = ParaS2SJudge(tiny_config(tiny, mode="reward_model"))
    results = judge.score(items(3))
    values = [r.score_expected for r in results]
    assert all(r.status == "ok" and 1 <= r.score_expected <= 5 and r.score in range(1, 6) for r in results)
    assert len({round(v, 6) for v in values}) == 3, values  # different responses, different scores
    again = judge.score(items(3))
    assert [r.score_expected for r in again] == values  # deterministic
    # one forward per pair and nothing else (on a CPU forwards are not batched: CPU_AUDIO_BATCH)
    # 12 clips heard, 4 encoded: the query once, each response once (the second scoring reuses them all)
    assert judge.stats()["reward"] == {"calls": 6, "inputs": 6, "audio_clips": 12, "audio_clips_encoded": 4}


def test_not_an_audio_llm_is_refused(tiny):
    judge = ParaS2SJudge(tiny_config(tiny, mode="end2end", audio_llm=tiny["text_llm"]))
    # found before any model loads, from the config files (models.preflight), naming the setting
    with pytest.raises(ValueError, match="audio_llm .*is a 'qwen2' checkpoint, but the audio_llm role needs"):
        judge.score(items(1))
    judge = ParaS2SJudge(tiny_config(tiny, asr_model=tiny["text_llm"]))
    with pytest.raises(ValueError, match="asr_model .*is a 'qwen2' checkpoint, but the asr role needs"):
        judge.score(items(1))


# ---- scripted backends: exact scores, retries, caching ----

def test_exact_scores_and_perception_with_scripted_backends():
    answers = ['{"content_score": 4, "style_score": 2, "score": 3, "rationale": "neutral voice"}', "Score: 5",
               "**2**/5"]
    judge = scripted_judge(answers)
    results = judge.score(items(3, requirement="shows empathy"))
    assert [r.score for r in results] == [3, 5, 2]
    assert (results[0].content_score, results[0].style_score, results[0].rationale) == (4, 2, "neutral voice")
    assert results[0].perception["query_style"] == "sad" and results[0].perception["query_style_source"] == "audio_llm"
    assert results[0].perception["response_tone"] == "calm, low and slow"
    prompt = judge.rubric.seen[0][1]["content"]
    assert "shows empathy" in prompt and "calm, low and slow" in prompt and "(emotion): sad" in prompt
    assert [r.item_id for r in results] == ["p0", "p1", "p2"]


def test_labels_skip_style_perception_and_given_text_skips_asr():
    judge = scripted_judge(["Score: 4"])
    results = judge.score([JudgeItem(QUERY, REPLIES[0], 16000, dimension="sarcasm", query_style="sarcastic",
                                     query_text="Great, the train is late.")])
    assert results[0].perception["query_style_source"] == "label"
    assert results[0].perception["query_text"] == "Great, the train is late."
    assert judge.stats()["asr"]["inputs"] == 1  # only the response


def test_retry_then_missing_then_strict():
    judge = scripted_judge(["angr5 are", "Score: 4"])  # garbage, then a valid answer on the stricter retry
    [r] = judge.score(items(1))
    assert r.score == 4 and r.status == "ok" and judge.stats()["retries"] == 1
    assert "could not be read" in judge.rubric.seen[1][1]["content"]
    judge = scripted_judge(["the response has 3 problems and 4 merits"], max_retries=2)
    [r] = judge.score(items(1))
    assert r.status == "missing" and r.score is None and "after 3 attempt(s)" in r.reason
    assert judge.stats()["missing"] == 1
    with pytest.raises(JudgeParseError, match="no score"):
        scripted_judge(["nothing here"], strict=True).score(items(1))


def test_expected_score_from_generation_logits():
    gen = Generation('{"score": 4}', digit_steps=[(10, [0.0, 0.0, 0.0, 10.0, 0.0])])  # the "4" is character 10
    judge = ParaS2SJudge(JudgeConfig(), asr=ScriptedASR(), audio_llm=ScriptedAudioLLM(),
                         rubric=type("R", (), {"generate": lambda self, m, n: [gen] * len(m), "stats": Counter()})())
    [r] = judge.score(items(1))
    assert r.score == 4 and r.score_expected == pytest.approx(expected_from_logits([0, 0, 0, 10, 0]))
    assert 3.99 < r.score_expected < 4.0
    assert expected_from_logits([0, 0, 0, 0, 0]) == pytest.approx(3.0)


def test_grpo_group_transcribes_the_query_once_and_disk_cache_resumes(tmp_path):
    group = [JudgeItem(QUERY, tone(1.0, 200 + 10 * k), 16000, dimension="emotion", query_style="sad") for k in range(8)]
    judge = scripted_judge(["Score: 3"], cache_dir=str(tmp_path))
    judge.score(group)
    assert judge.stats()["asr"] == {"calls": 1, "inputs": 9}  # 1 query + 8 responses, not 16
    judge.score(group)
    assert judge.stats()["asr"]["calls"] == 1  # all from the memory cache
    fresh = scripted_judge(["Score: 3"], cache_dir=str(tmp_path))
    fresh.score(group)
    assert fresh.stats()["asr"] == {}  # all from the disk cache
    assert "asr" not in fresh.stats() or fresh.stats()["asr"].get("calls", 0) == 0


# ---- config, bad input ----

def test_fingerprint_tracks_what_changes_scores():
    a = JudgeConfig()
    assert a.fingerprint() == JudgeConfig(batch_size=32, cache_dir="/tmp/x").fingerprint()
    assert a.fingerprint() != JudgeConfig(mode="end2end").fingerprint()
    assert a.fingerprint() != JudgeConfig(rubric_model="gpt-4.1", rubric_api_base="https://api.openai.com/v1").fingerprint()


def test_bad_input_messages():
    with pytest.raises(ValueError, match="Unknown judge mode 'vibes'"):
        JudgeConfig(mode="vibes")
    judge = scripted_judge(["Score: 3"])
    with pytest.raises(ValueError, match="pair 1: unknown dimension 'accent'"):
        judge.score([items(1)[0], JudgeItem(QUERY, QUERY, 16000, dimension="accent")])
    with pytest.raises(ValueError, match="pair 0: query_style 'sarcastic' is not one of"):
        judge.score([JudgeItem(QUERY, QUERY, 16000, dimension="emotion", query_style="sarcastic")])
    bad = judge.score([items(1)[0], JudgeItem(QUERY, np.zeros(0, np.float32), 16000),
                       JudgeItem(np.zeros(0, np.float32), QUERY, 16000)])
    assert bad[0].status == "ok"
    # an empty response is the system's failure (score 1); an empty query is unusable input
    assert (bad[1].status, bad[1].score, bad[1].reason) == ("empty_response", 1, "empty audio (0 samples, shape (0,))")
    assert bad[2].status == "invalid_input" and bad[2].reason == "pair 2: query_audio: empty audio (0 samples, shape (0,))"


# ---- OpenAI-compatible rubric endpoint (a local fake server) ----

class _FakeOpenAI(BaseHTTPRequestHandler):
    requests: ClassVar[list] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _FakeOpenAI.requests.append((self.path, self.headers.get("Authorization"), body))
        # The answer as tokens: the rationale's "4" (of "4 tips") has other log-probabilities than the score's "4":
        # the expected score must come from the score's own token.
        tokens = [('{"rationale": "fits, gives ', None), (" 4", [("4", -3.0), ("1", -0.05)]), (' tips", "content_score": ', None),
                  ("5", [("5", -0.01)]), (', "style_score": ', None), ("4", [("4", -0.5), ("3", -1.0)]),
                  (', "score": ', None), ("4", [("4", -0.1), ("5", -2.4)]), ("}", None)]
        content = "".join(t for t, _ in tokens)
        logprobs = {"content": [{"token": t, "logprob": 0.0, "bytes": None,
                                 "top_logprobs": [{"token": d, "logprob": lp, "bytes": None} for d, lp in (top or [])]}
                                for t, top in tokens]}
        reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop", "logprobs": logprobs,
                              "message": {"role": "assistant", "content": content}}],
                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_openai_compatible_rubric_endpoint_keeps_the_key_secret(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PARASS2S_TEST_KEY", "sk-very-secret")
    try:
        cfg = JudgeConfig(rubric_model="gpt-4.1", rubric_api_base=f"http://127.0.0.1:{server.server_port}/v1",
                          api_key_env="PARASS2S_TEST_KEY")
        judge = ParaS2SJudge(cfg, asr=ScriptedASR(), audio_llm=ScriptedAudioLLM())
        results = judge.score(items(2))
    finally:
        server.shutdown()
    assert [r.score for r in results] == [4, 4] and results[0].content_score == 5
    assert results[0].score_expected == pytest.approx(expected_from_logits([-1e4, -1e4, -1e4, -0.1, -2.4]))
    assert 4.0 < results[0].score_expected < 4.2  # read at the score's "4", not the rationale's " 4" (about 1.1)
    path, auth, body = _FakeOpenAI.requests[0]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-very-secret" and body["temperature"] == 0.0
    dumped = json.dumps([r.to_dict() for r in results]) + json.dumps(cfg.to_dict()) + json.dumps(judge.stats())
    assert "sk-very-secret" not in dumped


def test_missing_api_key_is_named(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(ValueError, match="environment variable NO_SUCH_KEY_VAR"):  # when the judge is built
        ParaS2SJudge(JudgeConfig(rubric_api_base="http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VAR"),
                     asr=ScriptedASR(), audio_llm=ScriptedAudioLLM())


# ---- the evaluate metric, loaded both ways ----

def test_metric_by_name_from_any_folder_and_by_path(tmp_path, monkeypatch):
    import evaluate

    import parass2s_hf  # noqa: F401 - installs the name hook

    answers = ["Score: 5", "Score: 3", "no idea", "Score: 1", "still no idea"]
    monkeypatch.chdir(tmp_path)
    metric = evaluate.load("parass2s_judge", judge=scripted_judge(answers))
    assert type(metric).__name__ == "Parass2sJudge" and metric.config_name == "multistage"
    q = [QUERY, QUERY, QUERY, QUERY]
    r = [REPLIES[0], REPLIES[1], REPLIES[2], REPLIES[0]]
    out = metric.compute(query_audio=q, response_audio=r, dimension=["emotion", "emotion", "age", "age"],
                         query_style=["sad", "happy", "child", "adult"])
    # answers in order: pair 0 "5", pair 1 "3", pair 2 "no idea", pair 3 "1"; pair 2's retry "still no idea": missing
    assert [i["score"] for i in out["per_item"]] == [5, 3, None, 1]
    assert out["score"] == pytest.approx(3.0) and out["num_scored"] == 3 and out["num_missing"] == 1
    assert out["per_dimension"]["emotion"] == {"score": 4.0, "num_scored": 2, "num": 2}
    assert out["per_dimension"]["age"] == {"score": 1.0, "num_scored": 1, "num": 2}
    assert out["per_style"]["child"]["score"] is None

    monkeypatch.chdir(REPO)
    by_path = evaluate.load("metric/parass2s_judge", "end2end", judge=scripted_judge(["Score: 2"]))
    assert by_path.config_name == "end2end"
    paths = []
    for k, audio in enumerate((QUERY, REPLIES[1])):
        paths.append(str(tmp_path / f"clip{k}.wav"))
        sf.write(paths[-1], audio, 16000)
    out = by_path.compute(query_audio=[paths[0]], response_audio=[paths[1]])
    assert out["score"] == 2.0 and out["per_item"][0]["perception"]["response_text"] == "words of a 0.8 second clip"


def test_metric_bad_input(tmp_path):
    import evaluate

    import parass2s_hf  # noqa: F401

    metric = evaluate.load("parass2s_judge", judge=scripted_judge(["Score: 3"]))
    with pytest.raises(ValueError, match="dimension has 1 values but there are 2 pairs"):
        metric.compute(query_audio=[QUERY, QUERY], response_audio=[QUERY, QUERY], dimension=["emotion"])
    # a bad pair is that pair's failure, with its reason; it never takes the batch down
    out = metric.compute(query_audio=["/nonexistent/q.wav"], response_audio=["/nonexistent/r.wav"])
    assert out["status"] == ["invalid_input"] and out["score"] is None and out["num_invalid"] == 1
    assert out["per_item"][0]["reason"] == "pair 0: query_audio /nonexistent/q.wav: file not found"
    out = metric.compute(query_audio=[QUERY], response_audio=[np.full(16000, np.nan, np.float32)])
    assert out["per_item"][0]["reason"] == "pair 0: response_audio: contains 16000 NaN or infinite sample(s)"
    with pytest.raises(ValueError, match="Unknown judge mode 'vibes'"):
        evaluate.load("parass2s_judge", "vibes")


def test_safe_loading_defaults_and_packaged_metric_module():
    from parass2s_hf.judge import METRIC_PATH
    from parass2s_hf.models import load_kwargs

    kwargs = load_kwargs(JudgeConfig().load_settings(), quantize=True)
    assert kwargs["use_safetensors"] is True and kwargs["trust_remote_code"] is False
    assert "quantization_config" not in kwargs
    assert load_kwargs(JudgeConfig(trust_remote_code=True).load_settings())["trust_remote_code"] is True
    q = load_kwargs(JudgeConfig(load_in_4bit=True).load_settings(), quantize=True)["quantization_config"]
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and "audio_tower" in q.llm_int8_skip_modules
    # the module evaluate imports ships inside the package (so a non-editable install resolves the name)
    assert os.path.isfile(METRIC_PATH) and METRIC_PATH.endswith(os.path.join("parass2s_hf", "judge", "evaluate_module",
                                                                             "parass2s_judge.py"))
    with open(os.path.join(REPO, "metric", "parass2s_judge", "parass2s_judge.py")) as repo_copy, open(METRIC_PATH) as pkg:
        assert repo_copy.read() == pkg.read()


@pytest.mark.parametrize("mode", ["multistage", "end2end", "reward_model"])
def test_every_mode_through_evaluate_load_with_checkpoints_by_path(tiny, mode):
    import evaluate

    import parass2s_hf  # noqa: F401

    metric = evaluate.load("parass2s_judge", mode, asr_model=tiny["asr"], audio_llm=tiny["audio_llm"],
                           rubric_model=tiny["text_llm"], rubric_max_new_tokens=8, tone_max_new_tokens=4,
                           asr_max_new_tokens=4, batch_size=2)
    out = metric.compute(query_audio=[QUERY, QUERY], response_audio=[REPLIES[0], REPLIES[1]],
                         dimension=["emotion", "gender"])
    if mode == "reward_model":  # the tiny audio LLM is a tiny reward model: its digits hold most of the mass
        assert out["num_scored"] == 2 and 1 <= out["score_expected"] <= 5
        assert all(item["perception"]["digit_probability_mass"] > 0.5 for item in out["per_item"])
    else:  # random models write no readable score: missing, with reasons, and no mean
        assert out["num_missing"] == 2 and out["score"] is None
        assert all("no score" in item["reason"] for item in out["per_item"])


def test_style_analyzer_predicts_the_query_style(tmp_path):
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    torch.manual_seed(0)
    cfg = Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
                         num_conv_pos_embedding_groups=2, classifier_proj_size=8, num_labels=2,
                         id2label={0: "male", 1: "female"}, label2id={"male": 0, "female": 1})
    path = str(tmp_path / "analyzer")
    Wav2Vec2ForSequenceClassification(cfg).save_pretrained(path)
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(path)
    judge = ParaS2SJudge(JudgeConfig(style_analyzers={"gender": path}), asr=ScriptedASR(),
                         audio_llm=ScriptedAudioLLM(), rubric=ScriptedRubric(["Score: 4"]))
    [r] = judge.score([JudgeItem(QUERY, REPLIES[0], 16000, dimension="gender")])
    assert r.perception["query_style_source"] == "analyzer" and r.perception["query_style"] in ("male", "female")
    wrong = ParaS2SJudge(JudgeConfig(style_analyzers={"age": path}), asr=ScriptedASR(),
                         audio_llm=ScriptedAudioLLM(), rubric=ScriptedRubric(["Score: 4"]))
    with pytest.raises(ValueError, match=r"has labels \['female', 'male'\], not the age styles"):
        wrong.score([JudgeItem(QUERY, REPLIES[0], 16000, dimension="age")])


def test_batching_does_not_change_scores(tiny, monkeypatch):
    """Left padding of different-length prompts (clip lengths set the number of audio tokens) must not move scores.
    CPU forwards run one pair at a time, so the GPU batching is forced here."""
    monkeypatch.setattr("parass2s_hf.models.local.CPU_AUDIO_BATCH", {"generate": 8, "forward": 8})
    judge = ParaS2SJudge(tiny_config(tiny, mode="reward_model", batch_size=3))
    batched = judge.score(items(3))
    assert judge.stats()["reward"]["calls"] == 1
    single = ParaS2SJudge(tiny_config(tiny, mode="reward_model", batch_size=1)).score(items(3))
    for a, b in zip(batched, single):
        assert a.score_expected == pytest.approx(b.score_expected, abs=1e-4)


def test_4bit_judge_keeps_the_audio_tower_unquantised(tiny):
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb
    from transformers import AutoModelForMultimodalLM

    from parass2s_hf.models.settings import load_kwargs

    # loaded as the backend loads it (the backend itself refuses this tiny model on an AVX512-BF16 CPU, whose 4-bit
    # kernels need layers of 64 inputs or more: tests/test_cli_conventions.py)
    model = AutoModelForMultimodalLM.from_pretrained(
        tiny["audio_llm"], **load_kwargs(JudgeConfig(load_in_4bit=True).load_settings(), quantize=True))
    four_bit = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert four_bit and not [n for n in four_bit if "audio_tower" in n or "multi_modal_projector" in n]


# The chat template Qwen/Qwen2-Audio-7B-Instruct ships: an audio placeholder only for parts with an `audio` or
# `audio_url` key (a bare {"type": "audio"} renders nothing, and the processor then refuses the clip).
QWEN2_AUDIO_HUB_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}{% for message in messages %}{% if loop.first and message['role'] != "
    "'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}"
    "\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}{% for content in "
    "message['content'] %}{% if 'audio' in content or 'audio_url' in content %}{% set audio_count.value = "
    "audio_count.value + 1 %}Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n{% elif 'text' in "
    "content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if "
    "add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_every_audio_conversation_renders_its_clips_with_the_hub_qwen2_audio_template(tiny):
    from transformers import AutoTokenizer

    from parass2s_hf.align.prompts import policy_prompt
    from parass2s_hf.judge import prompts

    tok = AutoTokenizer.from_pretrained(tiny["audio_llm"])
    conversations = {
        "tone": (prompts.tone_conversation(), 1), "style": (prompts.style_conversation("emotion"), 1),
        "end2end": (prompts.end2end_conversation(dimension="age", requirement="r"), 2),
        "reward": (prompts.reward_conversation(dimension="age", requirement="r"), 2), "policy": (policy_prompt(), 1)}
    for name, (conv, clips) in conversations.items():
        text = tok.apply_chat_template(conv, chat_template=QWEN2_AUDIO_HUB_TEMPLATE, add_generation_prompt=True,
                                       tokenize=False)
        assert text.count("<|AUDIO|>") == clips, name
