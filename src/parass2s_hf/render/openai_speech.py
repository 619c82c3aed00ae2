"""An OpenAI-compatible `/audio/speech` endpoint as a renderer: instructable TTS (gpt-4o-mini-tts, as in the paper).

Each clip is one `client.audio.speech.create(model, voice, input=text, instructions=<the style's instruction>,
response_format="wav")` request. The style reaches the model twice: as a spoken-style instruction from
`STYLE_INSTRUCTIONS` (one per query style and reply style, below), and through the voice, drawn from the style's
voice pool in `VOICE_POOLS` (male and female voices for gender; one speaker per pair for the other dimensions, as the
style table says). `tts-1` and `tts-1-hd` take no instructions: with them the voice is the only style cue.

There is no child voice among the built-in voices. The `child` pool holds the lighter voices, and the instruction
asks for a young child's voice; what comes out is an adult voice acting young. For real child (or other age and
gender) voices, use reference voices.

Reference voices (voice cloning): OpenAI's API creates a custom voice from an audio sample of a speaker together
with that speaker's consent recording (`client.audio.voices.create(audio_sample=..., consent="cons_...")`; the consent
recording is uploaded first with `client.audio.voice_consents.create`, see OpenAI's text-to-speech guide). Pass
`reference_voices={"child": ["voice_abc", "voice_def"], "female": "ref/f1.wav"}` (per style or per pool): a value
starting with `voice_` is an existing custom voice id; a path is an audio sample, turned into a custom voice on
first use with `consent_id` (logged with its new id: pass the id on later runs, or each run creates the voice
again). Other OpenAI-compatible servers (e.g. one serving a cloning TTS) that name their cloned voices can be given
those names through `voices`. A server without the `/audio/voices` route fails the clips that need it, with the
server's error recorded.

```python
>>> from parass2s_hf.render import get_renderer
>>> tts = get_renderer("openai-speech", model="gpt-4o-mini-tts")          # key in OPENAI_API_KEY
>>> clip = tts.render("I just bumped into my ex.", "sad", voice_key="pair-7")
>>> tts.voice("sad", "pair-7"), tts.instruction("sad")
('shimmer', 'Speak as a sad person would: low, quiet and slow, with a heavy, flat, downcast voice.')
```
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading

from ..audio import LoadedAudio, load_audio
from ..constants import QUERY_STYLES, REPLY_STYLES
from .base import register_renderer
from .styles import get_prosody

logger = logging.getLogger(__name__)

STYLE_INSTRUCTIONS: dict[str, str] = {
    # emotion
    "happy": "Speak as a happy person would: bright, lively and upbeat, with a smile in your voice.",
    "surprised": "Speak with genuine surprise: high pitch, wide pitch swings, astonished, rising at the end.",
    "sad": "Speak as a sad person would: low, quiet and slow, with a heavy, flat, downcast voice.",
    "angry": "Speak angrily: loud, fast and tense, with hard stress on the key words.",
    "fear": "Speak as a frightened person would: hurried, breathy and shaky, higher pitched and tense.",
    "disgust": "Speak with disgust: slow, low and falling, with a repulsed, contemptuous tone.",
    # sarcasm
    "sincere": "Speak sincerely: warm, even and natural, meaning every word.",
    "sarcastic": "Speak sarcastically: drawn-out words, exaggerated pitch, heavy ironic stress and a flat falling end, "
                 "so that it is clear you mean the opposite of what you say.",
    # age (the words are neutral: only the speaker should differ)
    "adult": "Speak as an adult would: a mature voice at a measured, natural pace, in a neutral everyday tone.",
    "child": "Speak as a young child would: high, bright voice, simple and eager, in a neutral everyday tone.",
    # gender
    "male": "Speak as a man would: a natural adult male voice, lower in pitch, in a neutral everyday tone.",
    "female": "Speak as a woman would: a natural adult female voice, higher in pitch, in a neutral everyday tone.",
    # reply styles
    "neutral": "Speak in a plain, neutral and even delivery.",
    "warm": "Speak warmly: friendly, soft and unhurried.",
    "cheerful": "Speak cheerfully: bright and upbeat.",
    "excited": "Speak with excitement: high, fast and energetic.",
    "calm": "Speak calmly: steady, slow and even.",
    "sympathetic": "Speak sympathetically: soft, low, slow and caring.",
    "concerned": "Speak with concern: attentive and careful, a little worried for the listener.",
    "serious": "Speak seriously: low, level and deliberate.",
    "playful": "Speak playfully: lilting, teasing and light.",
    "apologetic": "Speak apologetically: soft, lowered and a little hesitant.",
    "gentle": "Speak gently, as to a young child: soft, slow, simple and kind.",
    "firm": "Speak firmly: clear, loud and steady, no-nonsense.",
}
"""The spoken-style instruction sent with each clip, per query style and reply style."""
assert set(STYLE_INSTRUCTIONS) == set(QUERY_STYLES) | set(REPLY_STYLES)

VOICE_POOLS: dict[str, tuple[str, ...]] = {
    "male": ("ash", "ballad", "echo", "onyx", "verse"),
    "female": ("coral", "nova", "sage", "shimmer"),
    "child": ("nova", "shimmer", "coral"),
}
"""Built-in voices per pool, as they are commonly perceived (male or female); listen before a large build and
override with `voices`. There is no child voice: the `child` pool is the lighter female voices."""
VOICE_POOLS["adult"] = VOICE_POOLS["male"] + VOICE_POOLS["female"]
VOICE_POOLS["speaker"] = ("alloy", "fable") + VOICE_POOLS["adult"]

NO_INSTRUCTIONS = ("tts-1", "tts-1-hd")
"""Models that reject `instructions`."""


@register_renderer("openai-speech")
class OpenAISpeechRenderer:
    """Renders a query or reply style through an OpenAI-compatible `/audio/speech` endpoint (extra `api`).

    Args:
        model (`str`, *optional*, defaults to `"gpt-4o-mini-tts"`): the speech model.
        api_base (`str`, *optional*): the endpoint's base URL (e.g. `"http://localhost:8000/v1"`); `None` for OpenAI.
        api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`): the environment variable holding the key
            (never stored or logged).
        voices (`dict[str, list[str]]`, *optional*): voice names per pool (`"male"`, `"female"`, `"child"`,
            `"adult"`, `"speaker"`) or per style, replacing `VOICE_POOLS` there.
        instructions (`dict[str, str]`, *optional*): instructions per style, replacing `STYLE_INSTRUCTIONS` there.
        reference_voices (`dict[str, str | list[str]]`, *optional*): custom voices per style or pool (ids
            `voice_...`, or audio samples turned into custom voices with `consent_id`); see the module docstring.
        consent_id (`str`, *optional*): the consent recording id (`cons_...`) of the speaker of the reference samples.
        max_retries (`int`, *optional*, defaults to `3`): retries of a failed request (connection errors, 408, 429,
            5xx) with exponential backoff; then the clip's render raises, and the build records it as failed.
        timeout (`float`, *optional*, defaults to `120`): seconds per request.
        max_seconds (`float`, *optional*, defaults to `60.0`): longest clip the audio door accepts.

    Raises:
        `ImportError`: the `openai` client is missing (`pip install 'parass2s_hf[api]'`).
        `ValueError`: the key's environment variable is unset, or a bad setting.
    """

    def __init__(self, model: str = "gpt-4o-mini-tts", api_base: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", voices: dict | None = None, instructions: dict | None = None,
                 reference_voices: dict | None = None, consent_id: str | None = None, max_retries: int = 3,
                 timeout: float = 120.0, max_seconds: float = 60.0):
        from ..models import openai_client

        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries!r}.")
        self.model, self.api_base = model, api_base
        self.name = f"openai-speech:{model}"
        self.max_seconds = max_seconds
        self.send_instructions = model not in NO_INSTRUCTIONS
        self.instructions = dict(STYLE_INSTRUCTIONS)
        for style, text in (instructions or {}).items():
            get_prosody(style)  # a ValueError naming the styles for a typo
            self.instructions[style] = str(text)
        self._pools: dict[str, tuple[str, ...]] = {}
        for key, names in (voices or {}).items():
            names = (names,) if isinstance(names, str) else tuple(names)
            if not names:
                raise ValueError(f"voices[{key!r}] is empty; give at least one voice name.")
            self._check_pool_key(key, "voices")
            self._pools[key] = names
        self.consent_id = consent_id
        self._references: dict[str, str] = {}  # voice name -> custom voice id or sample path
        for key, refs in (reference_voices or {}).items():
            refs = [refs] if isinstance(refs, (str, os.PathLike)) else list(refs)
            self._check_pool_key(key, "reference_voices")
            names = []
            for ref in refs:
                ref = os.fspath(ref)
                if ref.startswith("voice_"):
                    name = ref
                else:
                    if not os.path.isfile(ref):
                        raise ValueError(f"reference_voices[{key!r}]: {ref!r} is neither a custom voice id (voice_...) "
                                         f"nor an audio file.")
                    if not consent_id:
                        raise ValueError(f"reference_voices[{key!r}] = {ref!r} is an audio sample: turning it into a "
                                         f"custom voice needs the speaker's consent recording id (consent_id='cons_...', "
                                         f"uploaded with client.audio.voice_consents.create).")
                    name = f"ref:{os.path.basename(ref)}"
                self._references[name] = ref
                names.append(name)
            self._pools[key] = tuple(names)
        self._created: dict[str, str] = {}
        self._lock = threading.Lock()
        self.client = openai_client(api_base, api_key_env, f"The openai-speech renderer ({model})", max_retries, timeout)

    @staticmethod
    def _check_pool_key(key: str, arg: str) -> None:
        if key not in VOICE_POOLS and key not in STYLE_INSTRUCTIONS:
            raise ValueError(f"{arg} key {key!r} is neither a voice pool {sorted(VOICE_POOLS)} nor a style.")

    def instruction(self, style: str) -> str:
        """The instruction sent with a clip of `style`."""
        get_prosody(style)
        return self.instructions[style]

    def _pool(self, style: str) -> tuple[str, tuple[str, ...]]:
        pool_name = get_prosody(style).voice
        if style in self._pools:
            return style, self._pools[style]
        return pool_name, self._pools.get(pool_name, VOICE_POOLS[pool_name])

    def voices(self, style: str) -> list[str]:
        """Every voice `voice(style, key)` can return."""
        return list(self._pool(style)[1])

    def voice(self, style: str, voice_key: str = "") -> str:
        salt, pool = self._pool(style)
        digest = hashlib.sha256(f"{salt}:{voice_key}".encode()).digest()
        return pool[int.from_bytes(digest[:4], "big") % len(pool)]

    def _voice_param(self, voice: str):
        """What the request's `voice` field carries: a built-in name, or `{"id": ...}` for a custom voice."""
        if voice not in self._references:
            return voice
        ref = self._references[voice]
        if ref.startswith("voice_"):
            return {"id": ref}
        with self._lock:
            if voice not in self._created:
                voices_api = getattr(self.client.audio, "voices", None)
                if voices_api is None:
                    raise ImportError("Creating a custom voice needs an openai client with audio.voices: "
                                      "pip install -U openai")
                with open(ref, "rb") as f:
                    created = voices_api.create(audio_sample=f, consent=self.consent_id,
                                                name=f"parass2s-{os.path.splitext(os.path.basename(ref))[0]}")
                self._created[voice] = created.id
                logger.info("created the custom voice %s from %s; pass it as a reference voice on later runs",
                            created.id, ref)
        return {"id": self._created[voice]}

    def request(self, text: str, style: str, voice_key: str = "") -> dict:
        """The `audio.speech.create` arguments for one clip (custom voices are created here when needed)."""
        kwargs = {"model": self.model, "voice": self._voice_param(self.voice(style, voice_key)), "input": text,
                  "response_format": "wav"}
        if self.send_instructions:
            kwargs["instructions"] = self.instruction(style)
        return kwargs

    def render(self, text: str, style: str, voice_key: str = "") -> LoadedAudio:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"Cannot render empty text (style {style!r}, voice key {voice_key!r}).")
        # the client retries connection errors, 408/429 and 5xx itself, with exponential backoff, then raises
        response = self.client.audio.speech.create(**self.request(text, style, voice_key))
        data = response.content if hasattr(response, "content") else response.read()
        return load_audio(bytes(data), max_seconds=self.max_seconds,
                          name=f"{self.name}[{self.voice(style, voice_key)}, {style}]: {text[:40]!r}")
