"""The policy's prompt: a spoken query in, a reply in the `[style: ...]` format out (docs/architecture.md, "Reply format").

The same conversation is used for the SFT warm-up and for GRPO, so the policy sees one format throughout.
"""

from __future__ import annotations

from ..constants import REPLY_STYLES
from ..judge.prompts import AUDIO_PART

POLICY_SYSTEM_PROMPT = (
    "You are a voice assistant in a spoken conversation. Listen to the user: reply to what they said and to how they "
    "said it (their emotion, tone, age or gender can change what a fitting reply is). Start your reply with the "
    "speaking style of your voice, written [style: <style>], where <style> is one of: " + ", ".join(REPLY_STYLES)
    + ". Then write the words to speak: one to three short sentences, no lists or emojis."
)
"""The system prompt of the policy (SFT and GRPO)."""


def policy_prompt(system_prompt: str | None = POLICY_SYSTEM_PROMPT) -> list[dict]:
    """The conversation of one spoken query: an optional system message and a user turn holding the audio.

    The audio itself travels in the row's audio column; `AUDIO_PART` marks where the processor puts it.
    """
    chat = [{"role": "user", "content": [dict(AUDIO_PART)]}]
    if system_prompt:
        chat.insert(0, {"role": "system", "content": system_prompt})
    return chat


def encode_policy_prompt(processor, audio, conversation: list[dict]):
    """The processor's output for one spoken prompt: the chat template applied to `conversation` (with the generation
    prompt) and the audio's features. The GRPO trainer and the `policy` system under test both encode through here,
    so the policy hears in evaluation exactly what it heard in training.

    Args:
        processor: the policy's processor (tokenizer, chat template, feature extractor).
        audio (`np.ndarray`): the prompt's audio, mono float32 at 16 kHz.
        conversation (`list[dict]`): `policy_prompt(...)`, or a row's own `prompt`.
    """
    from ..constants import SAMPLING_RATE

    text = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    return processor(text=[text], audio=[audio], sampling_rate=SAMPLING_RATE, return_tensors="pt")
