"""The build's render and verify stages, and the renderers they use: espeak-ng, transformers TTS, OpenAI speech."""

import contextlib
import io
import json
import os

import librosa
import numpy as np
import pytest
import soundfile as sf
from http_stub import serve_http

from parass2s_hf.audio import load_audio
from parass2s_hf.construct import WorkDir
from parass2s_hf.construct.render_stage import RenderConfig, assign_voice_splits, pick_voice_key, run_render
from parass2s_hf.construct.verify import VerifyConfig, run_verify, word_error_rate
from parass2s_hf.render import get_renderer
from parass2s_hf.render.espeak import EspeakRenderer
from parass2s_hf.render.openai_speech import STYLE_INSTRUCTIONS, OpenAISpeechRenderer
from parass2s_hf.render.resolve import resolve_renderer
from parass2s_hf.render.styles import get_prosody
from parass2s_hf.render.transformers_tts import TransformersTTSRenderer, apply_prosody

# ---- a work folder built by hand, in the generate and filter stages' formats ----

TEXTS = ["Could you tell me the way to the station?", "They moved the meeting to Friday.",
         "I got a letter from the bank today.", "My neighbour painted his fence green."]


def record(dimension, split, k, styles, text, mode, topic="errands"):
    rid = f"{dimension}-{split}-{k:04d}"
    per_style = {} if mode == "polytone" else {
        s: {"requirement": f"Fits {s}.", "reference_reply": f"Thanks for telling me, that sounds {s} to me.",
            "reference_reply_style": "warm" if i == 0 else "calm"} for i, s in enumerate(styles)}
    return {"id": rid, "pair_id": rid, "split": split, "dimension": dimension, "topic": topic,
            "scenario": "Someone talks about their day.", "text": text, "styles": list(styles),
            "per_style": per_style, "status": "ok", "reason": ""}


def verdicts(ok=True):
    return {name: {"pass": ok, "reason": "fine" if ok else "too emotional"}
            for name in ("neutrality", "plausibility", "relevance")}


def make_work(path, mode="benchmark", dimension="emotion", styles=("happy", "sad"), keep=(0, 1, 2, 3)):
    """Four kept records (0-1 test, 2-3 train; `keep` picks fewer), one dropped by generate, one dropped by filter."""
    from parass2s_hf.constants import STYLES

    work = WorkDir(path)
    work.begin("generate", {"mode": mode, "dimension": dimension})
    styles = STYLES[dimension] if mode == "polytone" else styles
    records = [record(dimension, "test" if k < 2 else "train", k, styles, TEXTS[k], mode) for k in keep]
    bad_generate = record(dimension, "test", 4, styles, "x", mode) | {"status": "dropped", "reason": "invalid JSON"}
    bad_filter = record(dimension, "train", 5, styles, "My cat likes the sofa.", mode)
    log = work.log("generate")
    for r in [*records, bad_generate, bad_filter]:
        log.append(r)
    work.begin("filter", {"llm": "scripted"})
    log = work.log("filter")
    for r in records:
        log.append({"id": r["id"], "status": "kept", "reason": "", "verdicts": verdicts()})
    log.append({"id": bad_filter["id"], "status": "dropped", "reason": "neutrality: too emotional",
                "verdicts": verdicts(False)})
    return work, records


def lines(work, stage):
    return list(work.log(stage))


def voices_by_split(work, records):
    split = {r["id"]: r["split"] for r in records}
    out = {"test": set(), "train": set()}
    for line in work.read("render"):
        out[split[line["record_id"]]].add(line["voice"])
    return out


# ---- render with espeak-ng ----

def test_render_benchmark_clips_files_voices_resume_and_settings(tmp_path):
    work, records = make_work(tmp_path / "emo")
    summary = run_render(work, RenderConfig())
    assert summary == {"stage": "render", "in": 8, "out": 8, "dropped": {}, "dropped_total": 0, "already_done": 0}
    rendered = work.read("render")
    assert [c["id"] for c in rendered] == [f"{r['id']}-{s}" for r in records for s in ("happy", "sad")]
    for line in rendered:
        assert set(line) == {"id", "record_id", "kind", "style", "voice", "file_name", "renderer", "seconds",
                             "status", "reason"}
        assert line["status"] == "ok" and line["kind"] == "query" and line["renderer"] == "espeak-ng"
        assert line["file_name"] == f"audio/{line['id']}.flac"
        info = sf.info(os.path.join(work.path, line["file_name"]))
        assert info.samplerate == 16000 and info.channels == 1
        clip = load_audio(os.path.join(work.path, line["file_name"]))
        assert abs(clip.duration - line["seconds"]) < 1e-2 and not clip.is_silent
    # both styles of a pair share the speaker; test and train voices are disjoint
    for r in records:
        assert len({c["voice"] for c in rendered if c["record_id"] == r["id"]}) == 1
    by_split = voices_by_split(work, records)
    assert by_split["test"] and by_split["train"] and not by_split["test"] & by_split["train"]
    settings = work.settings("render")
    assert settings["voice_split_effective"] and not set(settings["split_voices"]["test"]) & set(
        settings["split_voices"]["train"])
    assert by_split["test"] <= set(settings["split_voices"]["test"])

    # resume: nothing rendered again
    before = (tmp_path / "emo" / "rendered.jsonl").read_bytes()
    again = run_render(work, RenderConfig())
    assert again["out"] == 8 and again["already_done"] == 8
    assert (tmp_path / "emo" / "rendered.jsonl").read_bytes() == before

    # other settings: refused, unless overwrite (which renders again, here without the voice split)
    with pytest.raises(ValueError, match="render stage ran here with other settings .*voice_split"):
        run_render(work, RenderConfig(voice_split=False))
    redone = run_render(work, RenderConfig(voice_split=False), overwrite=True)
    assert redone["already_done"] == 0 and redone["out"] == 8
    assert work.settings("render")["voice_split_effective"] is False
    # without the split, the pair id is the voice key, as in the shipped sample
    espeak = EspeakRenderer()
    assert {c["voice"] for c in work.read("render")} == {espeak.voice("happy", r["pair_id"]) for r in records}


def test_render_polytone_distinct_voices_per_style(tmp_path):
    work, records = make_work(tmp_path / "poly", mode="polytone")
    summary = run_render(work, RenderConfig())
    assert summary["in"] == summary["out"] == 4 * 6 * 3
    rendered = work.read("render")
    assert rendered[0]["id"] == f"{records[0]['id']}-happy-v0"
    for r in records:
        for style in ("happy", "sad", "fear"):
            voices = [c["voice"] for c in rendered if c["record_id"] == r["id"] and c["style"] == style]
            assert len(voices) == 3 and len(set(voices)) == 3
        # voice k is the same speaker across the styles of a text (the styles share the speaker pool)
        v0 = {c["voice"] for c in rendered if c["record_id"] == r["id"] and c["id"].endswith("-v0")}
        assert len(v0) == 1
    by_split = voices_by_split(work, records)
    assert not by_split["test"] & by_split["train"]
    assert work.settings("render")["voices_per_style"] == 3


def test_render_sft_query_and_reply_clips(tmp_path):
    work, records = make_work(tmp_path / "sft", mode="sft")
    summary = run_render(work, RenderConfig())
    assert summary["in"] == summary["out"] == 4 * 4
    by_id = {c["id"]: c for c in work.read("render")}
    rid = records[0]["id"]
    assert by_id[f"{rid}-happy"]["kind"] == "query" and by_id[f"{rid}-happy"]["style"] == "happy"
    reply = by_id[f"{rid}-happy-reply"]
    assert reply["kind"] == "reply" and reply["style"] == "warm" and by_id[f"{rid}-sad-reply"]["style"] == "calm"
    assert reply["voice"] != by_id[f"{rid}-happy"]["voice"]  # the responder is another speaker
    assert not set.intersection(*voices_by_split(work, records).values())


class FlakyRenderer:
    """espeak-ng that fails on one text, and lists no voice pools."""

    name = "flaky"

    def __init__(self):
        self.inner = EspeakRenderer()
        self.calls = 0

    def voice(self, style, voice_key=""):
        return self.inner.voice(style, voice_key)

    def render(self, text, style, voice_key=""):
        self.calls += 1
        if "station" in text:
            raise RuntimeError("the synthesiser choked on 'station'")
        return self.inner.render(text, style, voice_key)


def test_a_failing_clip_is_recorded_not_a_crash(tmp_path, caplog):
    work, records = make_work(tmp_path / "emo")
    renderer = FlakyRenderer()
    summary = run_render(work, RenderConfig(), renderer=renderer)
    assert summary["in"] == 8 and summary["out"] == 6
    assert summary["dropped"] == {"render failed: RuntimeError": 2}
    failed = [c for c in work.read("render") if c["status"] == "failed"]
    assert [c["record_id"] for c in failed] == [records[0]["id"]] * 2
    assert failed[0]["reason"] == "RuntimeError: the synthesiser choked on 'station'" and failed[0]["file_name"] is None
    assert not os.path.exists(os.path.join(work.path, "audio", f"{failed[0]['id']}.flac"))
    # no voices(style): the split is off, and the settings say so
    settings = work.settings("render")
    assert settings["voice_split_effective"] is False and "no voices(style)" in settings["voice_split_note"]
    assert settings["renderer_name"] == "flaky"
    # a rerun does not retry the recorded failure, and the summary still accounts for it
    again = run_render(work, RenderConfig(), renderer=renderer)
    assert renderer.calls == 8 and again["dropped"] == {"render failed: RuntimeError": 2} and again["in"] == 8


class OneChildVoice(EspeakRenderer):
    """espeak-ng whose child pool holds a single voice: that style cannot be split."""

    name = "one-child-voice"

    def voices(self, style):
        return ["en-us+f5"] if style == "child" else super().voices(style)

    def voice(self, style, voice_key=""):
        return "en-us+f5" if style == "child" else super().voice(style, voice_key)


def test_a_single_voice_pool_is_shared_and_recorded(tmp_path, caplog):
    work, records = make_work(tmp_path / "age", dimension="age", styles=("adult", "child"))
    assert run_render(work, RenderConfig(), renderer=OneChildVoice())["out"] == 8
    settings = work.settings("render")
    assert settings["voice_split_unavailable"] == ["child"] and settings["split_voices"]["shared"] == ["en-us+f5"]
    assert "en-us+f5" not in settings["split_voices"]["test"] + settings["split_voices"]["train"]
    assert "voice split impossible for style(s) child" in caplog.text
    adult = {r["split"]: set() for r in records}
    split = {r["id"]: r["split"] for r in records}
    for line in work.read("render"):
        if line["style"] == "adult":
            adult[split[line["record_id"]]].add(line["voice"])
    assert not adult["test"] & adult["train"]


def test_render_bad_input(tmp_path):
    with pytest.raises(ValueError, match="voices_per_style"):
        RenderConfig(voices_per_style=0)
    with pytest.raises(ValueError, match="renderer must name"):
        RenderConfig(renderer="")
    assert RenderConfig(renderer_kwargs='{"language": "en-us"}').renderer_kwargs == {"language": "en-us"}
    work, _ = make_work(tmp_path / "emo")
    with pytest.raises(ValueError, match="applies to polytone mode only"):
        run_render(work, RenderConfig(voices_per_style=2))
    with pytest.raises(ValueError, match="Unknown renderer 'festival'"):
        run_render(work, RenderConfig(renderer="festival"))
    empty = WorkDir(tmp_path / "empty")
    empty.begin("generate", {"mode": "benchmark"})
    empty.log("generate").append(record("emotion", "test", 0, ("happy", "sad"), TEXTS[0], "benchmark"))
    with pytest.raises(ValueError, match="no filtered.jsonl"):
        run_render(empty, RenderConfig())


def test_voice_split_helpers():
    assign = assign_voice_splits({"child": ["f5", "annie", "belinda"], "adult": ["m1", "m2", "f1", "f5"]})
    assert assign["f5"] == "test" and assign["annie"] == "train" and set(assign.values()) == {"test", "train"}
    espeak = EspeakRenderer()
    key, voice = pick_voice_key(espeak, "male", "k", allowed={"en-us+m3"})
    assert voice == "en-us+m3" and espeak.voice("male", key) == voice
    assert pick_voice_key(espeak, "male", "k") == ("k", espeak.voice("male", "k"))
    # v0.2.0: no voice in two pools of one dimension (f5, an adult voice, left the child pool)
    assert espeak.voices("child") == ["en-us+Annie", "en-us+belinda", "en-us+anika", "en-us+Andrea"]


# ---- transformers TTS: a tiny random VITS and SpeechT5 ----

@pytest.fixture(scope="module")
def tiny_vits(tmp_path_factory):
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    path = str(tmp_path_factory.mktemp("vits"))
    chars = ["_", " ", "'", ",", ".", "?", "!", "-"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["<unk>"]
    with open(os.path.join(path, "vocab.json"), "w") as f:
        json.dump({c: i for i, c in enumerate(chars)}, f)
    tokenizer = VitsTokenizer(os.path.join(path, "vocab.json"), phonemize=False, add_blank=True, normalize=True,
                              pad_token="_", unk_token="<unk>")
    torch.manual_seed(0)
    config = VitsConfig(vocab_size=len(chars), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, ffn_dim=64,
                        flow_size=32, spectrogram_bins=33, upsample_initial_channel=16, upsample_rates=[8, 8, 2, 2],
                        upsample_kernel_sizes=[16, 16, 4, 4], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
                        duration_predictor_filter_channels=32, duration_predictor_num_flows=2, prior_encoder_num_flows=2,
                        prior_encoder_num_wavenet_layers=2, posterior_encoder_num_wavenet_layers=2,
                        depth_separable_num_layers=2, num_speakers=4, speaker_embedding_size=16, speaking_rate=2.0)
    VitsModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def median_f0(samples):
    f0, voiced, _ = librosa.pyin(samples, fmin=80, fmax=600, sr=16000)
    return float(np.nanmedian(f0[voiced]))


def test_style_post_processing_moves_pitch_rate_and_loudness():
    t = np.arange(16000) / 16000
    voice = sum(np.sin(2 * np.pi * 200 * h * t) / h for h in (1, 2, 3)).astype(np.float32) * 0.2
    child = apply_prosody(voice, 16000, get_prosody("child"))  # pitch 92: +6.3 semitones
    adult = apply_prosody(voice, 16000, get_prosody("adult"))  # pitch 45: -0.75 semitones
    assert median_f0(child) == pytest.approx(200 * 2 ** (6.3 / 12), rel=0.04)
    assert median_f0(adult) == pytest.approx(200 * 2 ** (-0.75 / 12), rel=0.04)
    assert len(child) / 16000 == pytest.approx(175 / 185, rel=0.01)  # rate 185 wpm against the reference 175
    assert np.abs(apply_prosody(voice, 16000, get_prosody("angry"))).max() == pytest.approx(0.45 * 1.8, rel=1e-3)


def test_transformers_vits_speaks_with_style_prosody(tiny_vits):
    tts = get_renderer("transformers", model=tiny_vits, device="cpu",
                       speaker_pools={"child": [0], "adult": [0], "male": [1, 2], "female": [3]})
    label = os.path.basename(tiny_vits)
    assert tts.name == f"transformers:{label}"
    assert tts.voices("happy") == [f"{label}/spk{i}" for i in range(4)]
    assert tts.voices("male") == [f"{label}/spk1", f"{label}/spk2"] and tts.voice("female", "x") == f"{label}/spk3"
    assert tts.voice("happy", "pair-1") == tts.voice("sad", "pair-1")  # a pair shares its speaker
    text = "could you tell me the way to the station"
    child, adult = tts.render(text, "child", "k"), tts.render(text, "adult", "k")
    assert child.sampling_rate == 16000 and child.array.dtype == np.float32
    # same speaker, same raw speech (a random model's is noise-like, so pitch is measured on a tone below); the child
    # style is spoken faster (185 wpm against 165) and pitch-shifted
    assert child.duration / adult.duration == pytest.approx(165 / 185, rel=0.03)
    assert not np.allclose(child.array[:8000], adult.array[:8000], atol=1e-3)
    # rate: sad is spoken at 120 wpm, happy at 190: the same words take 190/120 as long
    sad, happy = tts.render(text, "sad", "k"), tts.render(text, "happy", "k")
    assert sad.duration / happy.duration == pytest.approx(190 / 120, rel=0.03)
    # loudness: angry (amplitude 180) peaks higher than sad (70)
    angry = tts.render(text, "angry", "k")
    assert np.abs(angry.array).max() > 2 * np.abs(sad.array).max()
    # deterministic, and different speakers sound different
    np.testing.assert_array_equal(tts.render(text, "child", "k").array, child.array)
    plain = TransformersTTSRenderer(tiny_vits, device="cpu", apply_style=False)
    a, b = plain.render(text, "happy", "k"), plain.render(text, "sad", "k")
    np.testing.assert_array_equal(a.array, b.array)  # without post-processing the model has no style at all
    other = next(k for k in ("a", "b", "c", "d", "e", "f") if plain.voice("happy", k) != plain.voice("happy", "k"))
    assert not np.array_equal(plain.render(text, "happy", other).array[:4000], a.array[:4000])

    with pytest.raises(ValueError, match="reference_voices needs a model that conditions on a speaker embedding"):
        TransformersTTSRenderer(tiny_vits, reference_voices={"child": "kid.npy"})
    with pytest.raises(ValueError, match="speaker_pools"):
        TransformersTTSRenderer(tiny_vits, speaker_pools={"male": [7]})


def test_transformers_renderer_in_the_render_stage(tiny_vits, tmp_path):
    work, records = make_work(tmp_path / "gender", dimension="gender", styles=("male", "female"), keep=(1, 2))
    summary = run_render(work, RenderConfig(renderer=tiny_vits, renderer_kwargs={
        "device": "cpu", "speaker_pools": {"male": [0, 1], "female": [2, 3]}}))
    assert summary["out"] == 4
    rendered = work.read("render")
    label = os.path.basename(tiny_vits)
    assert {c["voice"] for c in rendered if c["style"] == "male"} == {f"{label}/spk0", f"{label}/spk1"}
    assert {c["voice"] for c in rendered if c["style"] == "female"} == {f"{label}/spk2", f"{label}/spk3"}
    by_split = voices_by_split(work, records)
    assert not by_split["test"] & by_split["train"] and rendered[0]["renderer"] == f"transformers:{label}"


@pytest.fixture(scope="module")
def tiny_speecht5(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        SpeechT5Config,
        SpeechT5ForTextToSpeech,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
    )

    path = str(tmp_path_factory.mktemp("speecht5"))
    chars = ["<s>", "<pad>", "</s>", "<unk>", " ", "'", ",", ".", "?", "!"] + [chr(c) for c in range(97, 123)]
    backend = Tokenizer(models.WordLevel({c: i for i, c in enumerate(chars)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                            unk_token="<unk>").save_pretrained(path)
    torch.manual_seed(0)
    config = SpeechT5Config(vocab_size=len(chars), hidden_size=32, encoder_layers=1, decoder_layers=1,
                            encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                            speech_decoder_prenet_units=32, speech_decoder_postnet_units=32,
                            speech_decoder_postnet_layers=2, speaker_embedding_dim=16, num_mel_bins=20, pad_token_id=1,
                            bos_token_id=0, eos_token_id=2, max_speech_positions=600, max_text_positions=200)
    SpeechT5ForTextToSpeech(config).save_pretrained(path)
    SpeechT5HifiGan(SpeechT5HifiGanConfig(model_in_dim=20, upsample_initial_channel=16, upsample_rates=[4, 4, 4, 4],
                                          upsample_kernel_sizes=[8, 8, 8, 8], resblock_kernel_sizes=[3],
                                          resblock_dilation_sizes=[[1, 3]])).save_pretrained(os.path.join(path, "voc"))
    rng = np.random.default_rng(0)
    np.save(os.path.join(path, "xvectors.npy"), rng.normal(size=(3, 16)).astype(np.float32))
    np.save(os.path.join(path, "kid.npy"), rng.normal(size=16).astype(np.float32))
    return path


def test_speecht5_speaker_xvectors_and_reference_voices(tiny_speecht5, tmp_path):
    join = os.path.join
    kwargs = {"speaker_embeddings": join(tiny_speecht5, "xvectors.npy"), "vocoder": join(tiny_speecht5, "voc"),
              "device": "cpu", "generate_kwargs": {"minlenratio": 1.0, "maxlenratio": 2.0}}
    tts = TransformersTTSRenderer(tiny_speecht5, reference_voices={"child": join(tiny_speecht5, "kid.npy")}, **kwargs)
    label = os.path.basename(tiny_speecht5)
    assert tts.voices("adult") == [f"{label}/xvec{i}" for i in range(3)]
    assert tts.voices("child") == ["ref:kid.npy"] and tts.voice("child", "any") == "ref:kid.npy"
    text = "hello there, how are you"
    kid = tts.render(text, "child", "k")
    plain = TransformersTTSRenderer(tiny_speecht5, apply_style=False, **kwargs)
    a, b = plain.render(text, "happy", "a"), plain.render(text, "happy", "b")
    assert kid.sampling_rate == 16000 and kid.duration > 0 and not kid.is_silent  # peak-normalised by the style
    if plain.voice("happy", "a") != plain.voice("happy", "b"):  # another x-vector, another voice
        n = min(len(a.array), len(b.array))  # a random vocoder speaks at about 1e-11: compare the shapes
        assert not np.allclose(a.array[:n] / np.abs(a.array).max(), b.array[:n] / np.abs(b.array).max(), atol=1e-3)

    with pytest.raises(ValueError, match="speaks only with a speaker x-vector"):
        TransformersTTSRenderer(tiny_speecht5, vocoder=join(tiny_speecht5, "voc"))
    clip = str(tmp_path / "ref.wav")
    sf.write(clip, np.zeros(1600, np.float32), 16000)
    with pytest.raises(ImportError, match="speechbrain"):
        TransformersTTSRenderer(tiny_speecht5, reference_voices={"female": clip}, **kwargs)


def test_resolve_renderer_forms_and_errors(tiny_vits, tiny, monkeypatch):
    monkeypatch.setenv("PARASS2S_TEST_KEY", "sk-test")
    assert isinstance(resolve_renderer("espeak-ng"), EspeakRenderer)
    for spec in (tiny_vits, f"transformers:{tiny_vits}"):
        assert isinstance(resolve_renderer(spec, device="cpu"), TransformersTTSRenderer)
    assert isinstance(resolve_renderer("transformers", model=tiny_vits), TransformersTTSRenderer)
    speech = resolve_renderer("openai-speech:tts-1-hd", api_key_env="PARASS2S_TEST_KEY")
    assert speech.model == "tts-1-hd" and speech.name == "openai-speech:tts-1-hd" and not speech.send_instructions
    endpoint = resolve_renderer("http://127.0.0.1:9/v1", api_key_env="PARASS2S_TEST_KEY")
    assert endpoint.api_base == "http://127.0.0.1:9/v1" and endpoint.model == "gpt-4o-mini-tts"

    with pytest.raises(ValueError, match=r"Unknown renderer 'festival'. Registered renderers: \['espeak-ng', "
                                         r"'openai-speech', 'transformers'\]; also accepted: openai-speech:<model>"):
        resolve_renderer("festival")
    with pytest.raises(ValueError, match="needs a model"):
        resolve_renderer("transformers")
    with pytest.raises(ValueError, match="Cannot load the text-to-speech model 'nobody/no-such-tts'"):
        resolve_renderer("nobody/no-such-tts")
    with pytest.raises(ValueError, match="not a text-to-speech model"):
        resolve_renderer(tiny["asr"])
    with pytest.raises(ValueError, match="OPENAI_UNSET_KEY"):
        resolve_renderer("openai-speech", api_key_env="OPENAI_UNSET_KEY")


# ---- OpenAI speech against a local server ----

def wav_bytes(seconds=0.6, freq=220.0, sr=24000):
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@contextlib.contextmanager
def speech_server(fail_speech=False):
    """/audio/speech answers a WAV (or 500), /audio/voices creates a custom voice; yields the base URL and requests."""
    received = []

    def handle(path, headers, raw):
        if path.endswith("/audio/voices"):
            received.append((path, raw))
            return 200, {"id": "voice_new1", "object": "audio.voice", "name": "kid", "created_at": 0,
                         "type": "audio_sample"}
        received.append((path, json.loads(raw)))
        if fail_speech:
            return 500, {"error": {"message": "overloaded", "type": "server_error"}}
        return 200, (wav_bytes(), "audio/wav")

    with serve_http(handle) as base:
        yield base, received


def test_openai_speech_sends_style_instructions_and_voices(monkeypatch, tmp_path):
    monkeypatch.setenv("PARASS2S_TEST_KEY", "sk-test")
    sample = str(tmp_path / "kid.wav")
    sf.write(sample, np.zeros(8000, np.float32), 16000)
    with speech_server() as (base, received):
        tts = OpenAISpeechRenderer(api_base=base, api_key_env="PARASS2S_TEST_KEY",
                                   reference_voices={"child": sample, "female": ["voice_abc"]}, consent_id="cons_123")
        clip = tts.render("I failed my driving test again.", "sad", "pair-1")
        assert clip.sampling_rate == 16000 and clip.original_sampling_rate == 24000
        tts.render("I failed my driving test again.", "child", "pair-1")
        tts.render("I failed my driving test again.", "female", "pair-1")
        tts.render("I failed my driving test again.", "child", "pair-2")  # the custom voice is created once
    speech = [body for path, body in received if path.endswith("/audio/speech")]
    assert speech[0] == {"model": "gpt-4o-mini-tts", "voice": tts.voice("sad", "pair-1"),
                         "input": "I failed my driving test again.", "instructions": STYLE_INSTRUCTIONS["sad"],
                         "response_format": "wav"}
    assert speech[0]["voice"] in tts.voices("sad")
    assert speech[1]["voice"] == {"id": "voice_new1"} and speech[1]["instructions"].startswith(
        "Speak as a young child would")
    assert speech[2]["voice"] == {"id": "voice_abc"} and speech[3]["voice"] == {"id": "voice_new1"}
    created = [raw for path, raw in received if path.endswith("/audio/voices")]
    assert len(created) == 1 and b"cons_123" in created[0] and b'name="audio_sample"' in created[0]
    assert tts.voices("child") == ["ref:kid.wav"] and tts.voices("female") == ["voice_abc"]
    # gender pools are disjoint; both styles of an emotion pair share the voice; every style has an instruction
    assert not set(tts.voices("male")) & set(OpenAISpeechRenderer.__init__.__globals__["VOICE_POOLS"]["female"])
    assert tts.voice("happy", "p") == tts.voice("sad", "p")
    with pytest.raises(ValueError, match="consent recording id"):
        OpenAISpeechRenderer(api_key_env="PARASS2S_TEST_KEY", reference_voices={"child": sample})
    with pytest.raises(ValueError, match="neither a voice pool"):
        OpenAISpeechRenderer(api_key_env="PARASS2S_TEST_KEY", voices={"robot": ["alloy"]})


def test_openai_speech_errors_are_retried_then_recorded(monkeypatch, tmp_path):
    import openai

    monkeypatch.setenv("PARASS2S_TEST_KEY", "sk-test")
    with speech_server(fail_speech=True) as (base, received):
        tts = OpenAISpeechRenderer(api_base=base, api_key_env="PARASS2S_TEST_KEY", max_retries=1)
        with pytest.raises(openai.InternalServerError):
            tts.render("Hello there.", "happy", "k")
        assert len(received) == 2  # the request and one retry
        work, _ = make_work(tmp_path / "emo")
        summary = run_render(work, RenderConfig(renderer="openai-speech", renderer_kwargs={
            "api_base": base, "api_key_env": "PARASS2S_TEST_KEY", "max_retries": 0}, num_workers=4))
    assert summary["out"] == 0 and summary["dropped"] == {"render failed: InternalServerError": 8}
    assert "overloaded" in work.read("render")[0]["reason"]
    assert work.settings("render")["renderer_name"] == "openai-speech:gpt-4o-mini-tts"
    assert "num_workers" not in work.settings("render")


# ---- verify ----

class ScriptedASR:
    """Returns the given transcripts in order, one per clip."""

    def __init__(self, transcripts):
        self.transcripts = list(transcripts)
        self.seen = 0

    def transcribe(self, arrays):
        assert all(a.dtype == np.float32 and a.ndim == 1 for a in arrays)
        out = self.transcripts[self.seen:self.seen + len(arrays)]
        self.seen += len(arrays)
        return out


class ScriptedAnalyzer:
    def __init__(self, label):
        self.label, self.calls = label, 0

    def classify(self, arrays):
        self.calls += len(arrays)
        return [self.label] * len(arrays)


def test_word_error_rate_normalises():
    assert word_error_rate("Could you tell me the way?", "could you tell me the way") == 0.0
    assert word_error_rate("It's raining,  again!", "its raining again") == 0.0
    assert word_error_rate("one two three four", "one two three") == 0.25
    assert word_error_rate("one two", "") == 1.0


def test_verify_wer_and_analyzer_agreement(tmp_path):
    work, records = make_work(tmp_path / "emo")
    run_render(work, RenderConfig())
    rendered = work.read("render")
    texts = {r["id"]: r["text"] for r in records}
    # clips 0-5 transcribed exactly (punctuation and case aside); clip 6 one word off (WER 1/7); clip 7 nonsense
    transcripts = [texts[c["record_id"]].lower().rstrip("?.") for c in rendered[:6]]
    transcripts += ["my neighbour painted his fence blue", "completely different words"]
    asr, analyzer = ScriptedASR(transcripts), ScriptedAnalyzer("happy")
    summary = run_verify(work, VerifyConfig(max_wer=0.2), asr=asr, analyzers={"emotion": analyzer})
    verified = work.read("verify")
    assert [v["id"] for v in verified] == [c["id"] for c in rendered]
    for v in verified:
        assert set(v) == {"id", "status", "reason", "wer", "transcript", "analyzer_style", "audio_sha256"}
        assert v["analyzer_style"] == "happy"
    by_id = {v["id"]: v for v in verified}
    happy0, sad0 = by_id[f"{records[0]['id']}-happy"], by_id[f"{records[0]['id']}-sad"]
    assert happy0["status"] == "passed" and happy0["wer"] == 0.0 and happy0["reason"] == ""
    assert sad0["status"] == "failed" and sad0["reason"] == "analyzer heard happy, intended sad"
    last_happy, last_sad = verified[6], verified[7]
    assert last_happy["wer"] == pytest.approx(1 / 6, abs=1e-3) and last_happy["status"] == "passed"
    assert last_sad["reason"] == "wer 1.00 > 0.2; analyzer heard happy, intended sad"
    assert summary["in"] == 8 and summary["out"] == 4
    assert summary["dropped"] == {"analyzer disagrees": 3, "wer > 0.2 and analyzer disagrees": 1}

    # resume: nothing transcribed again, the same summary
    again = run_verify(work, VerifyConfig(max_wer=0.2), asr=asr, analyzers={"emotion": analyzer})
    assert asr.seen == 8 and again["already_done"] == 8 and again["dropped"] == summary["dropped"]
    # agreement not required: the analyzer is only recorded; other settings need overwrite
    with pytest.raises(ValueError, match="verify stage ran here with other settings"):
        run_verify(work, VerifyConfig(max_wer=0.2, require_agreement=False), asr=ScriptedASR(transcripts))
    lenient = run_verify(work, VerifyConfig(max_wer=0.2, require_agreement=False), asr=ScriptedASR(transcripts),
                         analyzers={"emotion": ScriptedAnalyzer("sad")}, overwrite=True)
    assert lenient["out"] == 7 and lenient["dropped"] == {"wer > 0.2": 1}


def test_verify_sft_replies_are_checked_against_the_reply_text(tmp_path):
    work, records = make_work(tmp_path / "sft", mode="sft")
    run_render(work, RenderConfig())
    rendered = work.read("render")
    record_by_id = {r["id"]: r for r in records}
    transcripts = []
    for c in rendered:
        r = record_by_id[c["record_id"]]
        query_style = c["id"][len(r["id"]) + 1:].removesuffix("-reply")
        transcripts.append(r["per_style"][query_style]["reference_reply"] if c["kind"] == "reply" else r["text"])
    analyzer = ScriptedAnalyzer("happy")
    run_verify(work, VerifyConfig(max_wer=0.0), asr=ScriptedASR(transcripts), analyzers={"emotion": analyzer})
    verified = {v["id"]: v for v in work.read("verify")}
    reply = verified[f"{records[0]['id']}-happy-reply"]
    assert reply["status"] == "passed" and reply["wer"] == 0.0 and reply["analyzer_style"] is None
    assert analyzer.calls == 8  # the query clips only


def test_verify_with_tiny_whisper_and_bad_input(tmp_path, tiny):
    work, _ = make_work(tmp_path / "emo")
    with pytest.raises(ValueError, match="no rendered.jsonl"):
        run_verify(work, VerifyConfig(asr=tiny["asr"]))
    run_render(work, RenderConfig())
    summary = run_verify(work, VerifyConfig(asr=tiny["asr"], max_wer=1e9, batch_size=4, asr_max_new_tokens=4))
    assert summary["in"] == 8 and summary["out"] == 8
    for v in work.read("verify"):
        assert v["status"] == "passed" and isinstance(v["wer"], float) and isinstance(v["transcript"], str)
    with pytest.raises(ValueError, match="max_wer"):
        VerifyConfig(max_wer=-1)
    with pytest.raises(ValueError, match="keyed by dimension"):
        VerifyConfig(analyzers={"mood": "x"})
    with pytest.raises(ValueError, match="neither"):
        VerifyConfig(asr=None)
    other = WorkDir(tmp_path / "other")
    make_work(other.path)
    run_render(other, RenderConfig())
    with pytest.raises(ValueError, match="Cannot load the ASR model 'nobody/no-such-asr'"):
        run_verify(other, VerifyConfig(asr="nobody/no-such-asr"))
