"""`ParaS2SGRPOConfig`: TRL's `GRPOConfig` plus what ParaS2SAlign adds (judge, renderer, prompt audio column)."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig

from ..json_settings import json_dict
from .prompts import POLICY_SYSTEM_PROMPT

REWARD_FIELDS = ("score_expected", "score")


@dataclass
class ParaS2SGRPOConfig(GRPOConfig):
    r"""
    Configuration of [`ParaS2SGRPOTrainer`]: every [`~trl.GRPOConfig`] field, plus the ones below. One default follows
    the paper instead of TRL: `beta=0.2` (the KL weight to the SFT reference). TRL's `num_generations=8` is the paper's
    group size too (smaller groups often get equal scores for every completion, which gives no learning signal).

    Parameters:
        prompt_audio_column (`str`, *optional*, defaults to `"audio"`):
            Column of the train dataset holding the spoken prompts (anything `parass2s_hf.load_audio` reads). Rows
            without it are text prompts, trained as in stock TRL.
        policy_system_prompt (`str`, *optional*, defaults to `POLICY_SYSTEM_PROMPT`):
            System prompt of the policy's conversation (the same as in the SFT warm-up); empty for none.
        judge_config (`dict` or `str`, *optional*):
            Fields of `parass2s_hf.judge.JudgeConfig` for the reward (a dict, or a JSON string on the command line).
            Defaults to `{"mode": "reward_model"}`: one forward of an audio LLM per completion, as in the paper's RL.
        reward_field (`str`, *optional*, defaults to `"score_expected"`):
            Which judge output is the reward: `"score_expected"` (continuous, fewer ties in a group) or `"score"`.
        reward_fallback_to_score (`bool`, *optional*, defaults to `True`):
            When `reward_field="score_expected"` and the judge has no logits for a completion (e.g. a rubric LLM behind
            an API), use its integer score instead of leaving the reward missing (counted).
        renderer (`str`, *optional*, defaults to `"espeak-ng"`):
            Renderer that speaks each completion in its `[style: ...]` style before it is judged.
        renderer_kwargs (`dict` or `str`, *optional*):
            Arguments of the renderer (a dict, or a JSON string).
        renderer_voice_key (`str`, *optional*, defaults to `"assistant"`):
            Voice key of every rendered reply: one voice for the policy, so the reward judges style, not voices.
        max_prompt_seconds (`float`, *optional*, defaults to `30.0`):
            Longest spoken prompt accepted by the validation pass (audio encoders of Qwen2-Audio see 30 s).
        validate_prompt_audio (`bool`, *optional*, defaults to `True`):
            Read every prompt's audio once before training and list the unusable rows (see `drop_invalid_prompts`).
        drop_invalid_prompts (`bool`, *optional*, defaults to `False`):
            Drop unusable prompt rows (logged) instead of refusing to train. A streamed `IterableDataset` is checked
            lazily, row by row as batches are drawn (dropped rows counted in the trainer's `prompt_check.dropped`).
        render_workers (`int`, *optional*):
            Replies the reward speaks at once: the cores available to this process, shared among the local processes
            of a distributed run, when unset; 1 speaks them in turn. Renders stay deterministic and in order.
        reward_signals (`list[str]`, *optional*):
            Signals of the spoken completions to log per step beyond `parass2s/signals/duration` and
            `parass2s/signals/silence_ratio` (always logged): `["wer"]` adds `parass2s/signals/wer`, the word error rate
            of each spoken reply's transcript against its words, at the cost of an ASR pass per completion with the
            judge's `asr_model` (`judge_config`). None by default.
        cache_audio_tower (`bool`, *optional*, defaults to `True`):
            Run the frozen audio tower once per distinct prompt of a generation batch and reuse its output in
            generation, the reference log-probs and the loss (the same losses, to float tolerance). Off by itself
            when a tower parameter is trainable or the model is sharded (FSDP, DeepSpeed), which it has not been run
            with.
        omni_speaker (`str`, *optional*):
            Omni policy (a Qwen2.5-Omni checkpoint as the model): the talker's voice for every completion; the model's
            default when unset. Ignored for other policies.
        omni_system_prompt (`str`, *optional*):
            Omni policy: the system message (`QWEN_SYSTEM_PROMPT` when unset: Qwen2.5-Omni speaks only with it). The
            Omni policy writes plain words (the talker speaks them), so `policy_system_prompt` does not apply.
        omni_seed (`int`, *optional*, defaults to `0`):
            Omni policy: base of every completion's talker seed (`s2s.omni.speech_seed`), as `--system omni --seed`.
        omni_generate_kwargs (`dict` or `str`, *optional*):
            Omni policy: the model's `generate` arguments for the talker and vocoder (`talker_*`, `token2wav_*`), as
            `--system omni --generate_kwargs`.
        train_talker (`bool`, *optional*, defaults to `False`):
            Omni policy: also train a LoRA on the talker (its decoder's linear layers, a PEFT adapter of its own) with
            the same advantages: the codec tokens the talker sampled for each completion enter the loss (their
            teacher-forced log-probs, the clipped policy-gradient term with the completion's advantage, averaged over
            the codec tokens of the micro-batch; no KL term for the talker), so the reward shapes how the reply sounds,
            not only its words. The adapter is saved in `talker_adapter/` beside the thinker's, and `--system omni
            --adapter` merges it. Off by default: it costs a talker forward with gradients per completion and its
            backward (x1.11 the step time on the tiny CPU model, `benchmarks/bench_grpo_omni.py`; about +2 GB on
            Qwen2.5-Omni-7B by estimate, `examples/configs/grpo_omni_qlora.yaml`); single-process only.
        talker_loss_weight (`float`, *optional*, defaults to `1.0`):
            With `train_talker`: weight of the talker's term in the loss.
        talker_lora_r (`int`, *optional*, defaults to `16`):
            With `train_talker`: rank of the talker's LoRA (alpha `talker_lora_alpha`, no dropout).
        talker_lora_alpha (`int`, *optional*, defaults to `32`):
            With `train_talker`: alpha of the talker's LoRA.
    """

    beta: float = field(default=0.2, metadata={"help": "KL weight to the reference (the SFT model); paper: 0.2."})
    prompt_audio_column: str = field(default="audio", metadata={"help": "column holding the spoken prompts"})
    policy_system_prompt: str = field(default=POLICY_SYSTEM_PROMPT, metadata={"help": "the policy's system prompt"})
    judge_config: dict | str | None = field(
        default=None, metadata={"help": "JudgeConfig fields for the reward (dict or JSON); default reward_model mode"}
    )
    reward_field: str = field(default="score_expected", metadata={"help": "score_expected or score"})
    reward_fallback_to_score: bool = field(
        default=True, metadata={"help": "use the integer score where the judge has no expected score"}
    )
    renderer: str = field(default="espeak-ng", metadata={"help": "renderer that speaks the completions"})
    renderer_kwargs: dict | str | None = field(default=None, metadata={"help": "renderer arguments (dict or JSON)"})
    renderer_voice_key: str = field(default="assistant", metadata={"help": "voice key of the rendered replies"})
    max_prompt_seconds: float = field(default=30.0, metadata={"help": "longest accepted spoken prompt"})
    validate_prompt_audio: bool = field(default=True, metadata={"help": "check every prompt's audio before training"})
    drop_invalid_prompts: bool = field(default=False, metadata={"help": "drop unusable prompts instead of failing"})
    render_workers: int | None = field(default=None, metadata={
        "help": "replies spoken at once by the reward (default: the cores of this process, shared among local ranks)"})
    reward_signals: list[str] | None = field(default=None, metadata={
        "help": "signals of the spoken completions logged beyond duration and silence ratio: wer (an ASR pass per "
                "completion, with the judge's asr_model)"})
    cache_audio_tower: bool = field(default=True, metadata={
        "help": "run the frozen audio tower once per distinct prompt of a generation batch (off when it trains or is "
                "sharded)"})

    omni_speaker: str | None = field(default=None, metadata={"help": "Omni policy: the talker's voice"})
    omni_system_prompt: str | None = field(default=None, metadata={
        "help": "Omni policy: the system message (Qwen2.5-Omni's own when unset)"})
    omni_seed: int = field(default=0, metadata={"help": "Omni policy: base of the talker's per-completion seed"})
    omni_generate_kwargs: dict | str | None = field(default=None, metadata={
        "help": "Omni policy: generate arguments of the talker and vocoder (dict or JSON)"})
    train_talker: bool = field(default=False, metadata={
        "help": "Omni policy: also train a LoRA on the talker with the same advantages (its codec tokens in the loss)"})
    talker_loss_weight: float = field(default=1.0, metadata={"help": "train_talker: weight of the talker's loss term"})
    talker_lora_r: int = field(default=16, metadata={"help": "train_talker: rank of the talker's LoRA"})
    talker_lora_alpha: int = field(default=32, metadata={"help": "train_talker: alpha of the talker's LoRA"})

    gradient_checkpointing: bool | None = field(default=None, metadata={
        "help": "deprecated name of activation_checkpointing (transformers 5); on by default, as in TRL"})

    def __post_init__(self):
        # TRL's config turns checkpointing on through its old name, which transformers 5 warns about at every config a
        # user builds; the same default, set through the new name, warns only a user who writes the old one
        if self.gradient_checkpointing is None and self.activation_checkpointing is None:
            self.activation_checkpointing = True
        super().__post_init__()
        from ..judge import JudgeConfig

        self.judge_config = {"mode": "reward_model", **json_dict("judge_config", self.judge_config)}
        try:
            JudgeConfig(**self.judge_config)
        except TypeError as e:
            raise ValueError(f"judge_config has a field JudgeConfig does not know: {e}") from None
        self.renderer_kwargs = json_dict("renderer_kwargs", self.renderer_kwargs)
        self.omni_generate_kwargs = json_dict("omni_generate_kwargs", self.omni_generate_kwargs)
        if self.reward_field not in REWARD_FIELDS:
            raise ValueError(f"reward_field must be one of {list(REWARD_FIELDS)}, got {self.reward_field!r}.")
        if self.talker_loss_weight < 0 or self.talker_lora_r < 1:
            raise ValueError(f"talker_loss_weight must be >= 0 and talker_lora_r >= 1, got {self.talker_loss_weight!r} "
                             f"and {self.talker_lora_r!r}.")
        if self.max_prompt_seconds <= 0:
            raise ValueError(f"max_prompt_seconds must be positive, got {self.max_prompt_seconds!r}.")
        from .reward import REWARD_SIGNALS

        if isinstance(self.reward_signals, str):  # "wer" or "wer,..." from a YAML file or a flag
            self.reward_signals = [s for s in self.reward_signals.replace(",", " ").split() if s]
        unknown = [s for s in self.reward_signals or [] if s not in REWARD_SIGNALS]
        if unknown:
            raise ValueError(f"reward_signals {unknown} not known; expected some of {list(REWARD_SIGNALS)} (duration "
                             "and silence ratio are always logged).")
