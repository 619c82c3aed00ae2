"""Systems under test: precomputed responses (folders, manifests, bad input), the cascade (tiny Whisper + tiny LLM +
espeak-ng; prompts, reply styles, seeded sampling, an endpoint LLM), a tiny random Qwen2.5-Omni generating speech on
CPU, the OpenAI-compatible audio endpoint against a local server, the registry and fingerprints."""

import base64
import contextlib
import io
import json
import os
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
from conftest import tone
from http_stub import completion, serve_http

from parass2s_hf.models import Generation
from parass2s_hf.s2s import S2SResponse, S2SSystem, build_system, system_fingerprint


@pytest.fixture(scope="session")
def rows(sample_test):
    """Four sample rows, one per dimension, with their audio decoded as the runner passes it."""
    import parass2s_hf

    picked, seen = [], set()
    for row in sample_test:
        if row["dimension"] not in seen:
            seen.add(row["dimension"])
            row = dict(row)
            row["audio"] = parass2s_hf.load_audio(row["audio"]).to_dict()
            picked.append(row)
    return picked


def fake_row(record_id, style="sad", dimension="emotion", seconds=1.0):
    return {"id": record_id, "dimension": dimension, "style": style,
            "audio": {"array": tone(seconds, 200), "sampling_rate": 16000}}


def wav_bytes(samples, sr):
    buf = io.BytesIO()
    sf.write(buf, samples, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


# ---- the registry and fingerprints ----

def test_unknown_system_names_the_known_ones():
    with pytest.raises(ValueError, match="nope") as e:
        build_system("nope")
    for name in ("cascade", "omni", "openai-audio", "precomputed"):
        assert name in str(e.value)


# ---- precomputed ----

def test_precomputed_folder_any_rate_and_channels(tmp_path, rows):
    a, b, c = (r["id"] for r in rows[:3])
    sf.write(tmp_path / f"{a}.wav", tone(1.0, 200), 16000)
    os.makedirs(tmp_path / "more" / "deeper")
    sf.write(tmp_path / "more" / f"{b}.flac", np.stack([tone(0.5, 300, sr=44100)] * 2, axis=1), 44100)  # stereo
    sf.write(tmp_path / "more" / "deeper" / f"{a}__1.ogg", tone(2.0, 250, sr=8000), 8000)
    (tmp_path / "README.txt").write_text("not a response")

    system = build_system("precomputed", responses=str(tmp_path))
    assert isinstance(system, S2SSystem) and system.name == "precomputed"
    first = system.respond(rows[:3])
    assert [r.error for r in first[:2]] == [None, None] and first[0].sampling_rate == first[1].sampling_rate == 16000
    assert first[0].audio.shape == (16000,) and first[1].audio.ndim == 1 and abs(len(first[1].audio) - 8000) <= 2
    assert first[2].audio is None and c in first[2].error  # asked for without a response
    [second] = system.respond(rows[:1], sample_index=1)
    assert abs(len(second.audio) - 32000) <= 2 and second.info["path"].endswith(f"{a}__1.ogg")
    keys = [(r["id"], k) for r in rows[:3] for k in (0, 1)]
    assert system.missing(keys) == [(b, 1), (c, 0), (c, 1)]


def test_precomputed_manifests_jsonl_and_csv(tmp_path, rows):
    a, b = rows[0]["id"], rows[1]["id"]
    os.makedirs(tmp_path / "clips")
    sf.write(tmp_path / "clips" / "one.wav", tone(1.0, 200), 16000)
    sf.write(tmp_path / "clips" / "two.flac", tone(0.5, 300, sr=22050), 22050)
    absolute = str(tmp_path / "clips" / "two.flac")
    lines = [{"id": a, "audio": "clips/one.wav", "text": "Hello there."},
             {"id": a, "audio": absolute, "sample": 2},
             {"id": b, "audio": "clips/missing.wav"}]  # a file that is not there: a missing response
    (tmp_path / "responses.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    (tmp_path / "responses.csv").write_text(f"id,audio,text,sample\n{a},clips/one.wav,Hello there.,\n"
                                            f"{a},{absolute},,2\n")
    for name in ("responses.jsonl", "responses.csv"):
        system = build_system("precomputed", responses=str(tmp_path / name))
        [r0] = system.respond(rows[:1])
        [r2] = system.respond(rows[:1], sample_index=2)
        assert r0.text == "Hello there." and r0.audio.shape == (16000,) and r0.sampling_rate == 16000
        assert r2.text is None and abs(len(r2.audio) - 8000) <= 2
        assert system.missing([(a, 0), (a, 1), (a, 2), (b, 0)]) == [(a, 1), (b, 0)]


def test_precomputed_rejects_bad_listings(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        build_system("precomputed", responses=str(tmp_path / "nowhere"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ValueError, match="no audio files"):
        build_system("precomputed", responses=str(tmp_path / "empty"))
    (tmp_path / "notes.txt").write_text("id,audio\n")
    with pytest.raises(ValueError, match="not a manifest"):
        build_system("precomputed", responses=str(tmp_path / "notes.txt"))
    (tmp_path / "no_audio.jsonl").write_text(json.dumps({"id": "x", "path": "x.wav"}) + "\n")
    with pytest.raises(ValueError, match=r"no_audio.jsonl:1: missing column\(s\) \['audio'\]"):
        build_system("precomputed", responses=str(tmp_path / "no_audio.jsonl"))
    (tmp_path / "no_id.csv").write_text("audio\nx.wav\n")
    with pytest.raises(ValueError, match=r"no_id.csv:2: missing column\(s\) \['id'\]"):
        build_system("precomputed", responses=str(tmp_path / "no_id.csv"))
    (tmp_path / "ext.jsonl").write_text(json.dumps({"id": "x", "audio": "x.aiff"}) + "\n")
    with pytest.raises(ValueError, match="unsupported audio extension"):
        build_system("precomputed", responses=str(tmp_path / "ext.jsonl"))
    (tmp_path / "sample.jsonl").write_text(json.dumps({"id": "x", "audio": "x.wav", "sample": "first"}) + "\n")
    with pytest.raises(ValueError, match="not an integer"):
        build_system("precomputed", responses=str(tmp_path / "sample.jsonl"))


def test_precomputed_duplicate_ids_name_both_files(tmp_path):
    os.makedirs(tmp_path / "a")
    os.makedirs(tmp_path / "b")
    sf.write(tmp_path / "a" / "q1.wav", tone(0.5), 16000)
    sf.write(tmp_path / "b" / "q1.flac", tone(0.5), 16000)
    with pytest.raises(ValueError, match="Two responses for id 'q1' sample 0") as e:
        build_system("precomputed", responses=str(tmp_path))
    assert str(tmp_path / "a" / "q1.wav") in str(e.value) and str(tmp_path / "b" / "q1.flac") in str(e.value)
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "q1", "audio": "a/q1.wav"}) + "\n"
                                      + json.dumps({"id": "q1", "audio": "b/q1.flac", "sample": 0}) + "\n")
    with pytest.raises(ValueError, match="second response for id 'q1'"):
        build_system("precomputed", responses=str(tmp_path / "m.jsonl"))


def test_precomputed_unreadable_is_a_row_error_and_empty_is_empty(tmp_path):
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wave file at all")
    sf.write(tmp_path / "silent.wav", np.zeros(0, np.float32), 16000)  # a header, no samples
    (tmp_path / "nothing.flac").write_bytes(b"")
    system = build_system("precomputed", responses=str(tmp_path))
    broken, silent, nothing = system.respond([fake_row("broken"), fake_row("silent"), fake_row("nothing")])
    assert broken.audio is None and "broken.wav" in broken.error and "unreadable" in broken.error
    for empty in (silent, nothing):
        assert empty.error is None and empty.audio.size == 0 and empty.sampling_rate == 16000


def test_precomputed_fingerprint_follows_the_files(tmp_path):
    sf.write(tmp_path / "q1.wav", tone(1.0), 16000)
    fp = system_fingerprint(build_system("precomputed", responses=str(tmp_path)))
    assert fp == system_fingerprint(build_system("precomputed", responses=str(tmp_path)))
    json.dumps(build_system("precomputed", responses=str(tmp_path)).config())
    sf.write(tmp_path / "q1.wav", tone(1.5), 16000)  # the response was regenerated
    assert system_fingerprint(build_system("precomputed", responses=str(tmp_path))) != fp


# ---- cascade ----

def cascade(tiny, **kw):
    base = {"asr": tiny["asr"], "llm": tiny["text_llm"], "max_new_tokens": 8, "asr_max_new_tokens": 6, "batch_size": 4}
    return build_system("cascade", **{**base, **kw})


@pytest.fixture(scope="module")
def blind(tiny):
    return cascade(tiny)


@pytest.fixture(scope="module")
def labelled(tiny):
    return cascade(tiny, labelled=True)


def spy_llm(system):
    """Record the chats the LLM backend receives."""
    seen, generate = [], system.llm.generate

    def spy(messages, *args, **kwargs):
        seen.extend(messages)
        return generate(messages, *args, **kwargs)

    system.llm.generate = spy
    return seen


class ScriptedLLM:
    """Answers from a list, in order (tests only)."""

    def __init__(self, answers):
        self.answers, self.stats = list(answers), Counter()

    def generate(self, messages, max_new_tokens, **kwargs):
        return [Generation(self.answers.pop(0)) for _ in messages]


def test_cascade_blind_end_to_end(blind, rows):
    seen = spy_llm(blind)
    responses = blind.respond(rows[:3])
    assert len(responses) == 3
    for response, chat in zip(responses, seen):
        assert response.error is None and response.sampling_rate == 16000
        assert isinstance(response.info["transcript"], str) and response.info["reply_style"] == "neutral"
        assert chat[-1]["content"] == response.info["transcript"]  # the transcript alone: no style reaches the LLM
        assert (response.audio.size > 0) == bool(response.text)
        json.dumps(response.info)
    assert set(blind.timings) >= {"asr", "llm"} and all(v >= 0 for v in blind.timings.values())
    assert "[style:" not in blind.config()["system_prompt"]


def test_cascade_labelled_tells_the_llm_the_true_style(labelled, rows):
    seen = spy_llm(labelled)
    responses = labelled.respond(rows)
    assert all(r.error is None and "transcript" in r.info for r in responses)
    hints = {"sad": "sounds sad", "happy": "sounds happy", "fear": "sounds afraid", "sarcastic": "being sarcastic",
             "sincere": "being sincere", "child": "is a child", "adult": "is an adult", "female": "is a woman",
             "male": "is a man"}
    assert len(seen) == len(rows) and all(r["style"] in hints for r in rows)
    for row, chat, response in zip(rows, seen, responses):
        assert "[style: <style>]" in chat[0]["content"] and "sympathetic" in chat[0]["content"]
        assert hints[row["style"]] in chat[-1]["content"]
        assert chat[-1]["content"].endswith(f"What the user said: {response.info['transcript']}")
    assert sum(labelled.stats[k] for k in ("ok", "missing_tag", "unknown_style")) == len(rows)


def test_cascade_labelled_speaks_the_parsed_reply_style(labelled, rows):
    labelled.llm, real = ScriptedLLM(["[style: sympathetic] I'm so sorry.", "Sure thing.", "[style: grumpy] Hmm.",
                                      "[style: warm]"]), labelled.llm
    labelled.stats.clear()
    try:
        out = labelled.respond(rows)
    finally:
        labelled.llm = real
    assert [r.info["reply_style"] for r in out] == ["sympathetic", "neutral", "neutral", "warm"]
    assert [r.text for r in out] == ["I'm so sorry.", "Sure thing.", "Hmm.", ""]
    assert out[0].info["llm_reply"] == "[style: sympathetic] I'm so sorry."
    assert all(r.audio.size > 0 for r in out[:3])
    assert out[3].error is None and out[3].audio.size == 0 and out[3].sampling_rate == 16000  # said nothing: empty
    assert labelled.stats["ok"] == 2 and labelled.stats["missing_tag"] == 1 and labelled.stats["unknown_style"] == 1
    # the spoken style reaches the renderer: sympathetic prosody differs from neutral for the same words
    neutral = labelled.renderer.render("I'm so sorry.", "neutral", labelled.voice_key).array
    assert not np.array_equal(out[0].audio, neutral)


def test_cascade_sampling_is_seeded_per_row_and_sample(tiny, rows, blind):
    system = cascade(tiny, temperature=1.5, max_new_tokens=6)
    first = [r.text for r in system.respond(rows[:2])]
    assert first == [r.text for r in system.respond(rows[:2])]
    assert first[1] == system.respond(rows[1:2])[0].text  # the same sample whatever the batch
    assert first != [r.text for r in system.respond(rows[:2], sample_index=1)]
    assert "seed" in system.config() and "seed" not in blind.config()
    assert system_fingerprint(system) != system_fingerprint(blind)
    assert system_fingerprint(blind) == system_fingerprint(cascade(tiny))


def test_cascade_settings_are_checked(tiny):
    with pytest.raises(ValueError, match="Unknown renderer 'nope'"):
        cascade(tiny, tts="nope")
    with pytest.raises(ValueError, match="temperature"):
        cascade(tiny, temperature=-1)


# ---- a local OpenAI-compatible server ----

@contextlib.contextmanager
def serve(answer):
    """A chat-completions server; `answer(body) -> (status, json)`. Yields the base URL and the list of
    (path, Authorization header, body) it received."""
    received = []

    def handle(path, headers, raw):
        body = json.loads(raw)
        received.append((path, headers.get("Authorization"), body))
        return answer(body)

    with serve_http(handle) as base:
        yield base, received


def audio_answer(body):
    reply = base64.b64encode(wav_bytes(tone(0.5, 330, sr=24000), 24000)).decode()
    return 200, completion({"content": None, "audio": {"id": "audio-1", "data": reply, "expires_at": 0,
                                                       "transcript": "I am sorry to hear that."}})


def test_openai_audio_against_a_local_server(monkeypatch, rows):
    monkeypatch.setenv("PARASS2S_TEST_KEY", "sk-very-secret")
    with serve(audio_answer) as (base, received):
        system = build_system("openai-audio", model="gpt-4o-audio-preview", api_base=base,
                              api_key_env="PARASS2S_TEST_KEY", voice="verse", system_prompt="Be kind.")
        out = system.respond(rows[:3])
    assert len(received) == 3
    for response in out:
        assert response.error is None and response.sampling_rate == 24000 and response.audio.shape == (12000,)
        assert response.text == "I am sorry to hear that."
    by_length = {len(r["audio"]["array"]) for r in rows[:3]}
    for path, auth, body in received:
        assert path == "/v1/chat/completions" and auth == "Bearer sk-very-secret"
        assert body["model"] == "gpt-4o-audio-preview" and body["modalities"] == ["text", "audio"]
        assert body["audio"] == {"voice": "verse", "format": "wav"} and body["messages"][0]["content"] == "Be kind."
        part = body["messages"][-1]["content"][0]
        assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"
        query, sr = sf.read(io.BytesIO(base64.b64decode(part["input_audio"]["data"])))
        assert sr == 16000 and len(query) in by_length  # the query itself, at 16 kHz
    assert "sk-very-secret" not in json.dumps(system.config())
    assert system_fingerprint(system) != system_fingerprint(
        build_system("openai-audio", api_base=base, api_key_env="PARASS2S_TEST_KEY", voice="alloy",
                     system_prompt="Be kind."))


def test_openai_audio_server_errors_are_row_errors(monkeypatch):
    monkeypatch.setenv("PARASS2S_TEST_KEY", "sk-test")
    with serve(lambda body: (500, {"error": {"message": "boom", "type": "server_error"}})) as (base, received):
        system = build_system("openai-audio", api_base=base, api_key_env="PARASS2S_TEST_KEY", max_retries=1)
        out = system.respond([fake_row("q1"), fake_row("q2")])
    assert all(r.audio is None and r.sampling_rate is None and "500" in r.error for r in out)
    assert len(received) == 4  # each row tried twice (one retry)
    with serve(lambda body: (200, completion({"content": "I can only type."}))) as (base, _):
        [text_only] = build_system("openai-audio", api_base=base, api_key_env="PARASS2S_TEST_KEY").respond(
            [fake_row("q1")])
    assert text_only.audio is None and "no audio" in text_only.error


def test_openai_audio_needs_its_key(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(ValueError, match="NO_SUCH_KEY_VAR"):
        build_system("openai-audio", api_key_env="NO_SUCH_KEY_VAR")


def test_cascade_with_an_endpoint_llm(monkeypatch, tiny, rows):
    monkeypatch.setenv("PARASS2S_TEST_KEY", "sk-test")
    answers = iter(["[style: warm] Glad to hear it!", "[style: calm] Let us see."])
    with serve(lambda body: (200, completion({"content": next(answers)}))) as (base, received):
        system = cascade(tiny, llm="gpt-4.1", llm_api_base=base, llm_api_key_env="PARASS2S_TEST_KEY", labelled=True,
                         temperature=0.7, batch_size=1)
        out = system.respond(rows[:2])
    assert [r.info["reply_style"] for r in out] == ["warm", "calm"] and all(r.audio.size > 0 for r in out)
    body = received[0][2]
    assert body["model"] == "gpt-4.1" and body["temperature"] == 0.7 and isinstance(body["seed"], int)
    assert body["messages"][-1]["content"].startswith("The user ")
    assert system.config()["llm_api_base"] == base and "sk-test" not in json.dumps(system.config())


# ---- omni ----

@pytest.fixture(scope="session")
def tiny_omni(tmp_path_factory):
    from parass2s_hf.testing import build_tiny_omni

    return build_tiny_omni(str(tmp_path_factory.mktemp("omni")))


def omni(path, **kw):
    from parass2s_hf.testing import TINY_OMNI_GENERATE_KWARGS

    # two vocoder ODE steps instead of ten: the same code paths, a fifth of the CPU time
    return build_system("omni", model=path, device_map=None, max_new_tokens=4,
                        generate_kwargs={**TINY_OMNI_GENERATE_KWARGS, "token2wav_num_steps": 2}, **kw)


def hand_built_inputs(system, rows):
    """What the Omni processor makes, computed by hand from the tokenizer and a Whisper feature extractor: one
    `<|AUDIO|>` per audio-encoder frame (two stride-2 halvings of the mel frames), left-padded."""
    from transformers import WhisperFeatureExtractor

    extractor = WhisperFeatureExtractor.from_pretrained(system.model_id)
    features = extractor([r["audio"]["array"] for r in rows], sampling_rate=16000, return_attention_mask=True,
                         padding="max_length", return_tensors="pt")
    prompt = system.tokenizer.apply_chat_template(system.conversation(), add_generation_prompt=True, tokenize=False)
    texts = []
    for frames in features["attention_mask"].sum(-1).tolist():
        tokens = (((frames - 1) // 2 + 1) - 2) // 2 + 1  # the audio encoder's output length: one <|AUDIO|> each
        texts.append(prompt.replace("<|AUDIO|>", "<|AUDIO|>" * tokens))
    batch = system.tokenizer(texts, return_tensors="pt", padding=True, padding_side="left")
    return {**batch, "input_features": features["input_features"], "feature_attention_mask": features["attention_mask"]}


def test_omni_tiny_model_speaks_on_cpu(tiny_omni, rows):
    system = omni(tiny_omni, speaker="Chelsie", batch_size=2)
    inputs = hand_built_inputs(system, rows[:2])
    out = system.generate_from_inputs(inputs, seed=1)
    assert len(out) == 2
    for response in out:
        assert isinstance(response, S2SResponse) and response.error is None and response.sampling_rate == 24000
        assert response.audio.ndim == 1 and response.audio.size > 0 and np.isfinite(response.audio).all()
        assert isinstance(response.text, str) and response.info["completion_ids"]
    # respond() builds the same inputs itself (no processor), seeds the thinker per batch and the talker per completion
    one = system.respond(rows[:2])
    assert all(np.array_equal(a.audio, b.audio) and a.text == b.text for a, b in zip(out, one))
    json.dumps(system.config())
    assert system_fingerprint(system) != system_fingerprint(omni(tiny_omni, speaker="Chelsie", batch_size=2,
                                                                 temperature=0.7))


def test_omni_inputs_need_no_torchvision_and_are_the_hand_computed_ones(tiny_omni, rows, monkeypatch):
    """The Omni processor needs torchvision, which does not install beside the CPU torch: the system builds the same
    inputs from the tokenizer and the feature extractor (`models.omni_inputs`; compared with the processor's own code
    in tests/test_omni_policy_inputs.py)."""
    import sys

    import torch

    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` raises ImportError
    system = omni(tiny_omni)
    built, expected = system.inputs(rows[:3]), hand_built_inputs(system, rows[:3])
    assert sorted(built) == sorted(expected)
    assert all(torch.equal(built[k], expected[k]) for k in expected)


def test_omni_rejects_other_checkpoints_and_speakers(tiny, tiny_omni):
    with pytest.raises(ValueError, match=r"'qwen2' checkpoint.*qwen2_5_omni"):
        build_system("omni", model=tiny["text_llm"], device_map=None)
    with pytest.raises(ValueError, match=r"Unknown speaker 'Nobody'.*Chelsie"):
        omni(tiny_omni, speaker="Nobody")


def test_omni_checks_its_checkpoint_at_construction_and_loads_the_model_on_first_use(tiny_omni, tmp_path, monkeypatch):
    """A finished run's rerun builds the system but generates nothing: it must not load a 7B model for that."""
    import json as _json
    import shutil

    from parass2s_hf import models

    def no_loading(*args, **kwargs):
        raise AssertionError("the Omni model was loaded at construction")

    monkeypatch.setattr(models, "load_pretrained", no_loading)
    system = omni(tiny_omni, speaker="Chelsie")  # the speaker is checked from spk_dict.pt, without the model
    assert system._model is None and "Chelsie" in system.speakers()
    json.dumps(system.config())
    with pytest.raises(ValueError, match=r"Unknown speaker 'Nobody'.*Chelsie"):
        omni(tiny_omni, speaker="Nobody")
    mute = tmp_path / "mute"
    shutil.copytree(tiny_omni, mute)
    config = _json.loads((mute / "config.json").read_text())
    (mute / "config.json").write_text(_json.dumps({**config, "enable_audio_output": False}))
    with pytest.raises(ValueError, match="enable_audio_output off"):
        omni(str(mute))
    monkeypatch.undo()
    assert system.model is not None and system.model.has_talker  # loaded on first use


@pytest.mark.gpu
def test_omni_real_checkpoint(rows):
    """Qwen2.5-Omni-3B from the local cache (set PARASS2S_OMNI_MODEL to another checkpoint or path)."""
    system = build_system("omni", model=os.environ.get("PARASS2S_OMNI_MODEL", "Qwen/Qwen2.5-Omni-3B"),
                          max_new_tokens=64, batch_size=2)
    out = system.respond(rows[:2])
    for response in out:
        assert response.error is None and response.sampling_rate == 24000
        assert response.audio.size > 24000 // 2 and response.text


def test_the_cascade_speaks_a_batch_with_several_workers_as_with_one(tiny, rows):
    one = build_system("cascade", asr=tiny["asr"], llm=tiny["text_llm"], max_new_tokens=6, render_workers=1)
    two = build_system("cascade", asr=tiny["asr"], llm=tiny["text_llm"], max_new_tokens=6, render_workers=2)
    a, b = one.respond(rows[:3]), two.respond(rows[:3])
    assert system_fingerprint(one) == system_fingerprint(two)  # speed only
    for x, y in zip(a, b):
        assert x.text == y.text and np.array_equal(x.audio, y.audio)
