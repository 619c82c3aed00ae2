"""Speech-to-speech systems under test: precomputed responses, the ASR -> LLM -> TTS cascade, transformers Omni
models, OpenAI-compatible audio chat endpoints and
ParaS2SAlign policies, behind one protocol (`base.S2SSystem`)."""

from .base import SYSTEMS, S2SResponse, S2SSystem, build_system, register_system, system_fingerprint

__all__ = ["SYSTEMS", "S2SResponse", "S2SSystem", "build_system", "register_system", "system_fingerprint"]
