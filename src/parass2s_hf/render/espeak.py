"""espeak-ng renderer: offline, deterministic, about 30 ms a clip.

It speaks through libespeak-ng's C API (ctypes), from the `espeakng-loader` wheel when installed (it ships
the library and its data), else from the system library (Debian: `apt-get install libespeak-ng1`). Prosody
comes from `styles.STYLE_PROSODY`: voice variant, pitch, pitch range, rate and amplitude through
`espeak_SetParameter`, emphasis and the end-of-utterance pitch movement through SSML.

espeak-ng is a formant synthesiser: its contrasts in pitch, rate, loudness and voice are real and
measurable, but it does not sound emotional. It is the renderer for the shipped sample, tests and demos,
not a substitute for the expressive TTS of the paper.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import threading
from xml.sax.saxutils import escape

import numpy as np

from ..audio import LoadedAudio, load_audio
from .base import register_renderer
from .styles import VOICE_POOLS, choose_voice, get_prosody

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_espeakCHARS_UTF8 = 1
_espeakSSML = 0x10
_espeakRATE = 1
_espeakVOLUME = 2
_espeakPITCH = 3
_espeakRANGE = 4
_LIBC = ctypes.CDLL(None)
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Engine:
    """The process's libespeak-ng. The C library keeps global state, so calls are serialised by a lock and
    the library is initialised again in a forked child (datasets' `num_proc` forks)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pid = None
        self.lib = None
        self.sample_rate = None
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept on self so ctypes does not free it

    def _collect(self, wav, n, events):
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def _load(self):
        lib_path, data_path = _find_library()
        lib = ctypes.CDLL(lib_path)
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode() if data_path else None, 0)
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise (library {lib_path}, data {data_path})")
        lib.espeak_SetSynthCallback(self._callback)
        self.lib = lib
        self.sample_rate = rate
        self.pid = os.getpid()

    def synth(self, markup: str, voice: str, prosody, seed: int | None = None) -> tuple[np.ndarray, int]:
        with self.lock:
            if self.pid != os.getpid():
                self._load()
            if seed is not None:
                # Breath noise (the f-variants) comes from espeak-ng's own generator, seeded from the clock at
                # start-up; libc's rand() is inherited from the parent. Seed both for a reproducible clip.
                self.lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))
                _LIBC.srand(seed)
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            for param, value in ((_espeakRATE, prosody.rate), (_espeakVOLUME, prosody.amplitude),
                                 (_espeakPITCH, prosody.pitch), (_espeakRANGE, prosody.pitch_range)):
                self.lib.espeak_SetParameter(param, int(value), 0)
            self._chunks = []
            data = markup.encode("utf-8") + b"\0"
            err = self.lib.espeak_Synth(data, len(data), 0, 0, 0, _espeakCHARS_UTF8 | _espeakSSML, None, None)
            self.lib.espeak_Synchronize()
            if err != 0:
                raise RuntimeError(f"espeak-ng synthesis failed with error {err} for {markup!r}")
            chunks, self._chunks = self._chunks, []
        if not chunks:
            return np.zeros(0, np.int16), self.sample_rate
        return np.concatenate(chunks), self.sample_rate


def _find_library() -> tuple[str, str | None]:
    try:
        import espeakng_loader

        return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    except ImportError:
        pass
    found = ctypes.util.find_library("espeak-ng")
    if found is None:
        raise ImportError(
            "The espeak-ng renderer needs libespeak-ng: `pip install espeakng-loader` (ships the library) or "
            "`apt-get install libespeak-ng1`."
        )
    return found, None


_ENGINE = _Engine()


def _synth_in_fresh_process(markup: str, voice: str, prosody) -> tuple[np.ndarray, int]:
    """Synthesise in a forked child whose library has never spoken.

    libespeak-ng keeps state between utterances (the same text comes out a few milliseconds longer or shorter
    depending on what was said before, and neither reseeding nor re-initialising resets it), while its first
    utterance after start-up is reproducible. A child forked from a process that never synthesised starts from
    that state and reseeds the noise generators, so each render is a pure function of its inputs (provided this
    process has not itself rendered in-process before, with `deterministic=False`). Costs about 30 ms a clip.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: speak, send (status, rate, samples), exit without running the parent's cleanup
        status = 1
        try:
            os.close(read_fd)
            try:
                samples, rate = _ENGINE.synth(markup, voice, prosody, seed=0)
                payload = b"\x00" + np.int32(rate).tobytes() + samples.astype(np.int16).tobytes()
            except Exception as e:  # noqa: BLE001 - re-raised in the parent
                payload = b"\x01" + f"{type(e).__name__}: {e}".encode()
            with os.fdopen(write_fd, "wb") as f:
                f.write(payload)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        payload = f.read()
    os.waitpid(pid, 0)
    if not payload:
        raise RuntimeError(f"espeak-ng child process died while rendering {markup!r} with voice {voice!r}")
    if payload[:1] == b"\x01":
        raise RuntimeError(f"espeak-ng failed: {payload[1:].decode()}")
    return np.frombuffer(payload[5:], np.int16), int(np.frombuffer(payload[1:5], np.int32)[0])


def build_ssml(text: str, emphasis: str | None, final_pitch: str | None) -> str:
    """SSML for espeak-ng: `emphasis` on the longest word, `final_pitch` on the last word."""
    words = text.split()
    if not words:
        return "<speak></speak>"
    core = [re.sub(r"\W", "", w) for w in words]
    longest = max(range(len(words)), key=lambda i: (len(core[i]), -i))
    out = []
    for i, word in enumerate(words):
        piece = escape(word)
        if emphasis and i == longest:
            piece = f'<emphasis level="{emphasis}">{piece}</emphasis>'
        if final_pitch and i == len(words) - 1:
            piece = f'<prosody pitch="{final_pitch}">{piece}</prosody>'
        out.append(piece)
    return "<speak>" + " ".join(out) + "</speak>"


@register_renderer("espeak-ng")
class EspeakRenderer:
    """Renders a query or reply style with espeak-ng.

    Args:
        language (`str`, *optional*, defaults to `"en-us"`): espeak-ng language of every voice.
        max_seconds (`float`, *optional*, defaults to `60.0`): longest clip the audio door accepts.
        deterministic (`bool`, *optional*, defaults to `True`): render each clip in a forked process so that the
            same inputs always give the same samples (about 30 ms a clip). `False` renders in-process (about 6 ms),
            where libespeak-ng's carried-over state makes timings vary by a few milliseconds between calls; fine
            for RL rewards. Platforms without `os.fork` always render in-process.

    Example:
    ```python
    >>> from parass2s_hf.render import get_renderer
    >>> clip = get_renderer("espeak-ng").render("I just bumped into my ex.", "sad", voice_key="pair-7")
    >>> clip.sampling_rate, round(clip.duration, 1)
    (16000, 2.3)
    ```
    """

    name = "espeak-ng"

    def __init__(self, language: str = "en-us", max_seconds: float = 60.0, deterministic: bool = True):
        self.language = language
        self.max_seconds = max_seconds
        self.deterministic = deterministic and hasattr(os, "fork")

    def voice(self, style: str, voice_key: str = "") -> str:
        voice = choose_voice(style, voice_key)
        return voice if self.language == "en-us" else voice.replace("en-us", self.language, 1)

    def voices(self, style: str) -> list[str]:
        """Every voice `voice(style, key)` can return: the style's pool (the build's voice split divides it)."""
        pool = VOICE_POOLS[get_prosody(style).voice]
        return [v if self.language == "en-us" else v.replace("en-us", self.language, 1) for v in pool]

    def render(self, text: str, style: str, voice_key: str = "") -> LoadedAudio:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"Cannot render empty text (style {style!r}, voice key {voice_key!r}).")
        prosody = get_prosody(style)
        voice = self.voice(style, voice_key)
        synth = _synth_in_fresh_process if self.deterministic else _ENGINE.synth
        samples, rate = synth(build_ssml(text, prosody.emphasis, prosody.final_pitch), voice, prosody)
        return load_audio(samples, rate, max_seconds=self.max_seconds, name=f"espeak-ng[{voice}, {style}]: {text[:40]!r}")
