"""transformers text-to-speech models as a renderer: VITS / MMS-TTS, SpeechT5, and any `text-to-speech` pipeline model.

Style control, honestly: these models read text and nothing else. None of them takes an emotion, an age or a manner
of speaking, so the style table (`styles.STYLE_PROSODY`) is applied to the model's output as post-processing:

- rate: `librosa.effects.time_stretch` by `rate / 175` (the table's words per minute over espeak-ng's default);
- pitch: `librosa.effects.pitch_shift` by `(pitch - 50) * semitones_per_pitch_step` semitones (default 0.15: `child`
  +6.3, `sad` -3.3, `male` -0.75 semitones). A pitch shift moves the formants with the pitch, which is what makes a
  shifted voice sound smaller or larger; it is not a real child's or another gender's voice;
- loudness: the clip is peak-normalised to 0.45 and multiplied by `amplitude / 100` (so `angry` is 1.8 times as loud
  as `neutral`, and nothing clips).

Pitch range, SSML emphasis and the end-of-utterance pitch movement of the table are **not** applied (they need a
pitch-contour editor). The speaker, the one thing the models do control, follows the style's voice pool: a
multi-speaker model (`num_speakers` > 1, e.g. a VITS trained on several speakers) draws a speaker per (pool,
voice key) with the same stable hash as `styles.choose_voice`, so both styles of a pair share the speaker. The
model's speaker ids carry no gender or age labels: give `speaker_pools` (e.g. `{"male": [0, 3], "female": [1, 2]}`)
for the age and gender styles, otherwise every pool holds every speaker and the pitch shift is the only contrast.

The raw speech depends on the words, the speaker and `seed` only (not on the style), and the last few raw clips are
cached, so the styles of one text differ by exactly the post-processing, and a text spoken in six styles is
synthesised once.

Reference voices (voice cloning): only SpeechT5 conditions on a speaker, through a 512-dimensional x-vector.
`reference_voices={"child": "kid.npy", "female": ["f1.npy", "f2.npy"]}` makes those styles speak with the given
x-vectors (`.npy` / `.pt`, as in the `Matthijs/cmu-arctic-xvectors` data set). A reference *clip* (`.wav`, `.flac`)
is embedded with `speaker_encoder` (speechbrain's `spkrec-xvect-voxceleb`, the encoder SpeechT5's x-vectors come
from), which needs `pip install speechbrain` and the encoder's weights. x-vector conditioning gives a voice near the
reference speaker's, not a faithful clone. VITS and the pipeline models take no reference voice: passing
`reference_voices` to them is an error.

```python
>>> from parass2s_hf.render import get_renderer
>>> tts = get_renderer("transformers", model="facebook/mms-tts-eng")
>>> clip = tts.render("I just bumped into my ex.", "sad", voice_key="pair-7")
>>> clip.sampling_rate, tts.voice("sad", "pair-7")
(16000, 'mms-tts-eng')
```
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ..audio import LoadedAudio, load_audio
from .base import register_renderer
from .styles import Prosody, get_prosody

logger = logging.getLogger(__name__)

REFERENCE_RATE = 175
"""Words per minute that the table's `rate` is relative to (espeak-ng's default): a rate of 175 leaves the speed."""
REFERENCE_PITCH = 50
"""The table's neutral pitch: a pitch of 50 leaves the pitch."""
REFERENCE_PEAK = 0.45
"""Peak level of a clip at amplitude 100 (the table's neutral loudness); amplitude 200 reaches 0.9."""
_CACHE_SIZE = 16


def apply_prosody(samples: np.ndarray, sampling_rate: int, prosody: Prosody,
                  semitones_per_pitch_step: float = 0.15) -> np.ndarray:
    """Apply a style's rate, pitch and loudness to speech (see the module docstring for the mapping).

    Args:
        samples (`np.ndarray`): mono speech.
        sampling_rate (`int`): its rate.
        prosody (`Prosody`): the style's row of the table.
        semitones_per_pitch_step (`float`, *optional*, defaults to `0.15`): semitones per step of the table's 0-99
            pitch scale away from 50.

    Returns:
        `np.ndarray`: float32 samples at `sampling_rate`.
    """
    import librosa

    y = np.asarray(samples, dtype=np.float32)
    semitones = (prosody.pitch - REFERENCE_PITCH) * semitones_per_pitch_step
    if abs(semitones) > 1e-3:
        y = librosa.effects.pitch_shift(y, sr=sampling_rate, n_steps=semitones)
    rate = prosody.rate / REFERENCE_RATE
    if abs(rate - 1.0) > 1e-3:
        y = librosa.effects.time_stretch(y, rate=rate)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0:
        y = y * (REFERENCE_PEAK * prosody.amplitude / 100.0 / peak)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _label(model: str) -> str:
    """A short name of a checkpoint for voice names: a Hub id's last part, or a local folder's name."""
    return os.path.basename(os.path.normpath(model)) or model


def _pick(pool: Sequence[str], salt: str, key: str) -> str:
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return pool[int.from_bytes(digest[:4], "big") % len(pool)]


def _clip_seed(seed: int, text: str, voice: str) -> int:
    digest = hashlib.sha256(f"{seed}:{voice}:{text}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def _load_xvector(path: str, encoder_id: str, device: str) -> np.ndarray:
    """A speaker x-vector from a `.npy`/`.pt` file, or computed from a reference clip with speechbrain."""
    if path.endswith(".npy"):
        return np.asarray(np.load(path), dtype=np.float32).reshape(-1)
    if path.endswith((".pt", ".pth")):
        import torch

        return torch.load(path, map_location="cpu", weights_only=True).float().reshape(-1).numpy()
    try:
        from speechbrain.inference.speaker import EncoderClassifier
    except ImportError:
        try:
            from speechbrain.pretrained import EncoderClassifier
        except ImportError as e:
            raise ImportError(
                f"The reference clip {path!r} needs speechbrain to compute its x-vector with {encoder_id} (the encoder "
                f"SpeechT5's speaker embeddings come from): pip install speechbrain. Or pass a precomputed x-vector "
                f"(.npy)."
            ) from e
    import torch

    encoder = EncoderClassifier.from_hparams(source=encoder_id, run_opts={"device": device})
    wav = torch.from_numpy(load_audio(path).array)[None]
    with torch.inference_mode():
        emb = torch.nn.functional.normalize(encoder.encode_batch(wav), dim=2)
    return emb.reshape(-1).cpu().numpy().astype(np.float32)


@register_renderer("transformers")
class TransformersTTSRenderer:
    """Renders a query or reply style with a transformers text-to-speech checkpoint (style by post-processing).

    Args:
        model (`str`): a Hub id or local folder: a VITS / MMS-TTS model (`facebook/mms-tts-eng`), SpeechT5
            (`microsoft/speecht5_tts`, with `speaker_embeddings`), or any model the `text-to-speech` pipeline runs.
        device (`str`, *optional*): `"cpu"`, `"cuda"`, `"cuda:1"`; the first GPU when one is visible, else the CPU.
        speaker_pools (`dict[str, list[int]]`, *optional*): speaker ids (VITS) or x-vector rows (SpeechT5) per voice
            pool (`"male"`, `"female"`, `"child"`, `"adult"`, `"speaker"`) or per style; pools not named hold every
            speaker.
        speaker_embeddings (`str`, *optional*): SpeechT5 only, required there: a `.npy`/`.pt` file of x-vectors, one
            per row (`(n, 512)`), each row a speaker.
        reference_voices (`dict[str, str | list[str]]`, *optional*): SpeechT5 only: x-vector files or reference clips
            per style or pool, replacing that pool's speakers (see the module docstring).
        vocoder (`str`, *optional*): SpeechT5's vocoder (defaults to `"microsoft/speecht5_hifigan"`).
        speaker_encoder (`str`, *optional*, defaults to `"speechbrain/spkrec-xvect-voxceleb"`): embeds reference clips.
        apply_style (`bool`, *optional*, defaults to `True`): apply the style table's rate, pitch and loudness;
            `False` returns the model's speech as is (every style then sounds the same).
        semitones_per_pitch_step (`float`, *optional*, defaults to `0.15`): see `apply_prosody`.
        seed (`int`, *optional*, defaults to `0`): base seed of the models' sampling noise (VITS draws durations and
            latents at random); each clip is seeded from it, the text and the voice, so renders are reproducible.
        generate_kwargs (`dict`, *optional*): extra arguments of the model call (e.g. SpeechT5's `maxlenratio`).
        max_seconds (`float`, *optional*, defaults to `60.0`): longest clip the audio door accepts.
        trust_remote_code (`bool`, *optional*, defaults to `False`): passed to `from_pretrained`.

    Raises:
        `ValueError`: a checkpoint that cannot be loaded or is not a text-to-speech model, or settings that the model
            cannot use (`reference_voices` without SpeechT5, SpeechT5 without `speaker_embeddings`, unknown speakers).
    """

    parallel_safe = False  # seeded through torch's global generator: one clip at a time

    def __init__(self, model: str, device: str | None = None, speaker_pools: dict | None = None,
                 speaker_embeddings: str | None = None, reference_voices: dict | None = None,
                 vocoder: str | None = None, speaker_encoder: str = "speechbrain/spkrec-xvect-voxceleb",
                 apply_style: bool = True, semitones_per_pitch_step: float = 0.15, seed: int = 0,
                 generate_kwargs: dict | None = None, max_seconds: float = 60.0, trust_remote_code: bool = False):
        import torch
        from transformers import AutoConfig

        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model must name a text-to-speech checkpoint (Hub id or folder), got {model!r}.")
        self.model_id, self.label = model, _label(model)
        self.name = f"transformers:{self.label}"
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.apply_style, self.semitones_per_pitch_step = bool(apply_style), float(semitones_per_pitch_step)
        self.seed, self.max_seconds = int(seed), max_seconds
        self.generate_kwargs = dict(generate_kwargs or {})
        self.trust_remote_code = bool(trust_remote_code)
        try:
            config = AutoConfig.from_pretrained(model, trust_remote_code=self.trust_remote_code)
        except (OSError, ValueError) as e:
            raise ValueError(f"Cannot load the text-to-speech model {model!r} (a Hub id or a local folder is expected; "
                             f"offline, only models already in the cache load): {e}") from e
        self.model_type = config.model_type
        architectures = tuple(getattr(config, "architectures", None) or ())
        if reference_voices and self.model_type != "speecht5":
            raise ValueError(f"reference_voices needs a model that conditions on a speaker embedding (SpeechT5); "
                             f"{model!r} is a {self.model_type!r} model, whose voices are fixed.")

        self._speakers: dict[str, object] = {}  # voice name -> what the backend needs (speaker id, x-vector, None)
        self._pools: dict[str, list[str]] = {}  # style or pool name -> voice names
        if self.model_type == "vits":
            self._load_vits(model)
        elif self.model_type == "speecht5":
            if architectures and "SpeechT5ForTextToSpeech" not in architectures:
                raise ValueError(f"{model!r} is a SpeechT5 {'/'.join(architectures)} checkpoint, not the text-to-speech "
                                 f"one (e.g. microsoft/speecht5_tts).")
            self._load_speecht5(model, speaker_embeddings, vocoder)
        else:
            from transformers.models.auto.modeling_auto import (
                MODEL_FOR_TEXT_TO_SPECTROGRAM_MAPPING_NAMES,
                MODEL_FOR_TEXT_TO_WAVEFORM_MAPPING_NAMES,
            )

            if (self.model_type not in MODEL_FOR_TEXT_TO_WAVEFORM_MAPPING_NAMES
                    and self.model_type not in MODEL_FOR_TEXT_TO_SPECTROGRAM_MAPPING_NAMES):
                raise ValueError(f"{model!r} is a {self.model_type!r} checkpoint, not a text-to-speech model (expected "
                                 f"e.g. VITS/MMS-TTS, SpeechT5, Bark, FastSpeech2, or another text-to-speech pipeline "
                                 f"model).")
            self._load_pipeline(model)
        self._set_pools(speaker_pools, reference_voices, speaker_encoder)
        self._cache: OrderedDict = OrderedDict()

    # ---- loading ----
    def _load_vits(self, model: str) -> None:
        from transformers import AutoTokenizer, VitsModel

        self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=self.trust_remote_code)
        self.model = VitsModel.from_pretrained(model).to(self.device).eval()
        self.sampling_rate = int(self.model.config.sampling_rate)
        n = int(getattr(self.model.config, "num_speakers", 1) or 1)
        if n > 1:
            self._speakers = {f"{self.label}/spk{i}": i for i in range(n)}
        else:
            self._speakers = {self.label: None}

    def _load_speecht5(self, model: str, speaker_embeddings: str | None, vocoder: str | None) -> None:
        import torch
        from transformers import AutoTokenizer, SpeechT5ForTextToSpeech, SpeechT5HifiGan

        if not speaker_embeddings:
            raise ValueError(f"SpeechT5 ({model!r}) speaks only with a speaker x-vector: pass speaker_embeddings, a "
                             f".npy/.pt file of x-vectors, one 512-dim row per speaker (e.g. rows of the "
                             f"Matthijs/cmu-arctic-xvectors data set saved with numpy.save).")
        self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=self.trust_remote_code)
        self.model = SpeechT5ForTextToSpeech.from_pretrained(model).to(self.device).eval()
        try:
            self.vocoder = SpeechT5HifiGan.from_pretrained(vocoder or "microsoft/speecht5_hifigan").to(self.device).eval()
        except OSError as e:
            raise ValueError(f"Cannot load SpeechT5's vocoder {vocoder or 'microsoft/speecht5_hifigan'!r}: {e}") from e
        self.sampling_rate = int(self.vocoder.config.sampling_rate)
        if speaker_embeddings.endswith(".npy"):
            table = np.load(speaker_embeddings)
        else:
            table = torch.load(speaker_embeddings, map_location="cpu", weights_only=True).float().numpy()
        table = np.atleast_2d(np.asarray(table, dtype=np.float32))
        self._check_xvector(table[0], speaker_embeddings)
        self._speakers = {f"{self.label}/xvec{i}": row for i, row in enumerate(table)}

    def _check_xvector(self, vector: np.ndarray, source: str) -> None:
        dim = int(self.model.config.speaker_embedding_dim)
        if vector.shape != (dim,):
            raise ValueError(f"{source}: a speaker x-vector of shape {vector.shape}, but {self.model_id!r} expects "
                             f"{dim} values per speaker.")

    def _load_pipeline(self, model: str) -> None:
        from transformers import pipeline

        self.pipe = pipeline("text-to-speech", model=model, device=self.device, trust_remote_code=self.trust_remote_code)
        self.sampling_rate = None  # read from each output
        self._speakers = {self.label: None}

    def _set_pools(self, speaker_pools: dict | None, reference_voices: dict | None, speaker_encoder: str) -> None:
        by_handle = {handle if isinstance(handle, int) else i: name
                     for i, (name, handle) in enumerate(self._speakers.items())}
        for key, ids in (speaker_pools or {}).items():
            ids = [ids] if isinstance(ids, int) else list(ids)
            unknown = [i for i in ids if i not in by_handle]
            if unknown or not ids:
                raise ValueError(f"speaker_pools[{key!r}] = {ids}: {self.model_id!r} has speakers "
                                 f"0..{len(self._speakers) - 1}.")
            self._pools[key] = [by_handle[i] for i in ids]
        for key, refs in (reference_voices or {}).items():
            refs = [refs] if isinstance(refs, (str, os.PathLike)) else list(refs)
            names = []
            for ref in refs:
                ref = os.fspath(ref)
                if not os.path.exists(ref):
                    raise ValueError(f"reference_voices[{key!r}]: {ref!r} does not exist.")
                vector = _load_xvector(ref, speaker_encoder, self.device)
                self._check_xvector(vector, ref)
                name = f"ref:{os.path.basename(ref)}"
                self._speakers[name] = vector
                names.append(name)
            self._pools[key] = names

    # ---- the renderer protocol ----
    def _pool(self, style: str) -> tuple[str, list[str]]:
        pool_name = get_prosody(style).voice
        if style in self._pools:
            return style, self._pools[style]
        if pool_name in self._pools:
            return pool_name, self._pools[pool_name]
        return pool_name, [n for n in self._speakers if not n.startswith("ref:")]

    def voices(self, style: str) -> list[str]:
        """Every voice `voice(style, key)` can return."""
        return list(self._pool(style)[1])

    def voice(self, style: str, voice_key: str = "") -> str:
        salt, pool = self._pool(style)
        return _pick(pool, salt, voice_key)

    def render(self, text: str, style: str, voice_key: str = "") -> LoadedAudio:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"Cannot render empty text (style {style!r}, voice key {voice_key!r}).")
        prosody = get_prosody(style)
        voice = self.voice(style, voice_key)
        samples, rate = self._speech(text, voice)
        if self.apply_style:
            samples = apply_prosody(samples, rate, prosody, self.semitones_per_pitch_step)
        return load_audio(samples, rate, max_seconds=self.max_seconds,
                          name=f"{self.name}[{voice}, {style}]: {text[:40]!r}")

    # ---- synthesis ----
    def _speech(self, text: str, voice: str) -> tuple[np.ndarray, int]:
        """The model's speech for (text, voice), before any style: cached, seeded from (seed, text, voice)."""
        key = (text, voice)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        import torch

        devices = [torch.device(self.device)] if torch.device(self.device).type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(_clip_seed(self.seed, text, voice))
            samples, rate = self._synthesise(text, self._speakers[voice])
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if samples.size == 0:
            raise RuntimeError(f"{self.name} produced no audio for {text[:60]!r} (voice {voice}).")
        self._cache[key] = (samples, rate)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return samples, rate

    def _synthesise(self, text: str, speaker) -> tuple[np.ndarray, int]:
        import torch

        if self.model_type == "vits":
            inputs = self.tokenizer(text, return_tensors="pt").to(self.device)
            if inputs["input_ids"].shape[-1] == 0:
                raise ValueError(f"{self.model_id!r}'s tokenizer keeps nothing of {text[:60]!r}.")
            extra = {"speaker_id": speaker} if speaker is not None else {}
            with torch.inference_mode():
                wav = self.model(**inputs, **extra, **self.generate_kwargs).waveform
            return wav[0].float().cpu().numpy(), self.sampling_rate
        if self.model_type == "speecht5":
            inputs = self.tokenizer(text, return_tensors="pt").to(self.device)
            emb = torch.from_numpy(np.asarray(speaker, dtype=np.float32))[None].to(self.device)
            with torch.inference_mode():
                wav = self.model.generate_speech(inputs["input_ids"], emb, vocoder=self.vocoder,
                                                 **self.generate_kwargs)
            return wav.float().cpu().numpy(), self.sampling_rate
        out = self.pipe(text, **({"generate_kwargs": self.generate_kwargs} if self.generate_kwargs else {}))
        if isinstance(out, list):
            out = out[0]
        audio = np.asarray(out["audio"], dtype=np.float32)
        if audio.ndim > 1:  # (channels, samples) or (1, samples)
            audio = audio.mean(axis=0) if audio.shape[0] < audio.shape[-1] else audio.mean(axis=-1)
        return audio, int(out["sampling_rate"])
