"""Tiny random checkpoints built offline, for tests, examples and benchmarks of the code paths.

They have the architecture of the real models (Whisper, Qwen2-Audio, a Qwen2 instruct LM) with a few thousand
parameters and random weights, so that the judge and the trainer can be exercised end to end through
`from_pretrained(path)` on a CPU without the Hub. Their outputs are noise: they never stand in for a real judge.

```python
>>> from parass2s_hf.testing import build_tiny_checkpoints
>>> paths = build_tiny_checkpoints("/tmp/tiny")     # {"asr": ..., "audio_llm": ..., "text_llm": ...}
```
From a shell: `python -m parass2s_hf.testing /tmp/tiny` (prints the paths).
"""

from __future__ import annotations

import os

_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>",
             "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>", "<unk>"]
_CORPUS = [
    "the score is 4 out of 5", "Score: 3", '{"content_score": 4, "style_score": 2, "score": 3, "rationale": "ok"}',
    "the speaker sounds happy sad angry surprised fearful disgusted calm excited",
    "sincere sarcastic adult child male female",
    "The response is warm and fitting. It acknowledges the feeling.", "How are you today? I am fine, thanks.",
    "Rate the response from 1 to 5. Answer with a single digit.", "system user assistant audio query response",
]

_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tokenizer_object(vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 10, trainer)
    return tok


def build_tiny_text_llm(path: str, hidden_size: int = 32, num_layers: int = 2, seed: int = 0) -> str:
    """A random Qwen2 causal LM with a chat template (the rubric stage's text LLM)."""
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    tok = PreTrainedTokenizerFast(tokenizer_object=_tokenizer_object(), eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", unk_token="<unk>")
    tok.chat_template = _CHAT_TEMPLATE
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                      num_hidden_layers=num_layers, num_attention_heads=2, num_key_value_heads=1,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, max_position_embeddings=4096)
    model = Qwen2ForCausalLM(cfg)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


DIGIT_CHANNEL_LEVEL, DIGIT_MARGIN = 0.1, 1.5
"""How the tiny audio LLM is made a tiny reward model (`build_tiny_audio_llm(..., reward_digits=True)`)."""


def make_digits_the_answer(model, tokenizer, level: float = DIGIT_CHANNEL_LEVEL, margin: float = DIGIT_MARGIN):
    """Give the digits "1".."5" most of the next-token probability at every text position, the reward model's answer
    position included, while the choice among them stays random and follows the audio.

    Channel 0 of the residual stream is set to `level` in every token embedding, and no attention or MLP block writes
    to it (row 0 of every `o_proj` and `down_proj` is zeroed), so after the final norm it is a positive constant at
    text positions. The output layer reads it with weight `+margin` for the digits and `-margin` for every other token:
    a fixed lead of the digits over the rest of the vocabulary (about 95% of the mass with these values, against 1.3%
    for a plain random model), added to the digits' random logits. `JudgeConfig.min_digit_mass` (0.5) then holds
    honestly: a random model that does not answer with a digit is `low_digit_mass`, this one is not."""
    import torch

    digits = [tokenizer.encode(str(d), add_special_tokens=False)[0] for d in range(1, 6)]
    with torch.no_grad():
        model.get_input_embeddings().weight[:, 0] = level
        for name, module in model.named_modules():
            if "language_model" in name and name.endswith(("o_proj", "down_proj")):
                module.weight[0].zero_()
        head = model.get_output_embeddings().weight
        head[:, 0] = -margin
        head[digits, 0] = margin


def build_tiny_audio_llm(path: str, hidden_size: int = 32, num_layers: int = 2, seed: int = 0,
                         reward_digits: bool = True) -> str:
    """A random Qwen2-Audio (audio encoder + Qwen2 LM) with its processor (tone, end-to-end, reward model).

    With `reward_digits` (the default) it is a tiny reward model: its digits "1".."5" hold most of the next-token
    probability (see `make_digits_the_answer`), so the `reward_model` mode scores it above `min_digit_mass` while its
    choice among the digits is random. Its generations are therefore mostly digits: the `end2end` and tone stages get
    noise from it, as from any random model."""
    import torch
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2AudioConfig,
        Qwen2AudioEncoderConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        Qwen2Config,
        WhisperFeatureExtractor,
    )

    torch.manual_seed(seed)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=_tokenizer_object(), eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
        extra_special_tokens={"audio_token": "<|AUDIO|>", "audio_bos_token": "<|audio_bos|>",
                              "audio_eos_token": "<|audio_eos|>"},
    )
    processor = Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128), tokenizer=tok,
                                    chat_template=_CHAT_TEMPLATE)
    cfg = Qwen2AudioConfig(
        audio_config=Qwen2AudioEncoderConfig(num_mel_bins=128, encoder_layers=num_layers, encoder_attention_heads=2,
                                             encoder_ffn_dim=2 * hidden_size, d_model=hidden_size,
                                             max_source_positions=1500),
        text_config=Qwen2Config(vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                                num_hidden_layers=num_layers, num_attention_heads=2, num_key_value_heads=1,
                                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                                max_position_embeddings=4096),
        audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"),
    )
    model = Qwen2AudioForConditionalGeneration(cfg)
    if reward_digits:
        make_digits_the_answer(model, tok)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def build_tiny_whisper(path: str, d_model: int = 32, seed: int = 0) -> str:
    """A random Whisper (the ASR stage) with its processor."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    torch.manual_seed(seed)
    tok = WhisperTokenizerFast(tokenizer_object=_tokenizer_object(), bos_token="<|endoftext|>",
                               eos_token="<|endoftext|>", pad_token="<|endoftext|>", unk_token="<unk>")
    ids = {s: tok.convert_tokens_to_ids(s) for s in ("<|endoftext|>", "<|startoftranscript|>")}
    cfg = WhisperConfig(vocab_size=len(tok), d_model=d_model, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=2 * d_model,
                        decoder_ffn_dim=2 * d_model, num_mel_bins=80, max_source_positions=1500,
                        max_target_positions=128, pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"],
                        eos_token_id=ids["<|endoftext|>"], decoder_start_token_id=ids["<|startoftranscript|>"])
    model = WhisperForConditionalGeneration(cfg)
    model.generation_config = GenerationConfig(decoder_start_token_id=ids["<|startoftranscript|>"],
                                               eos_token_id=ids["<|endoftext|>"], pad_token_id=ids["<|endoftext|>"])
    model.save_pretrained(path)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tok).save_pretrained(path)
    return path


def build_tiny_checkpoints(folder: str) -> dict[str, str]:
    """All three tiny checkpoints under `folder`; returns their paths by role."""
    os.makedirs(folder, exist_ok=True)
    return {
        "asr": build_tiny_whisper(os.path.join(folder, "whisper")),
        "audio_llm": build_tiny_audio_llm(os.path.join(folder, "qwen2_audio")),
        "text_llm": build_tiny_text_llm(os.path.join(folder, "qwen2")),
    }


TINY_OMNI_GENERATE_KWARGS = {"talker_max_new_tokens": 12, "talker_eos_token_id": [61]}
"""`generate` arguments the tiny Omni needs: its talker's codec vocabulary has 64 ids (the real model's default end
ids are out of range), and a dozen codec steps make a quarter second of audio."""


AUDIBLE_GAIN = 3e5
"""How much `build_tiny_omni(audible=True)` scales the vocoder's last convolution."""


def build_tiny_omni(path: str, hidden_size: int = 32, seed: int = 0, audible: bool = False) -> str:
    """A random Qwen2.5-Omni (thinker, talker, token2wav) with one speaker, its tokenizer and a Whisper feature
    extractor; about 0.5 M parameters, 2 MB.

    Its random vocoder speaks at about -120 dBFS, which the judge's rule takes for silence (every reply an
    `empty_response`, score 1). `audible=True` scales the vocoder's last convolution by `AUDIBLE_GAIN` so its noise
    sounds (peak near -15 dBFS): what a GRPO or loop recipe needs for rewards that vary.

    No `Qwen2_5OmniProcessor` is saved: it needs torchvision, which does not install beside the CPU torch. Build the
    inputs from the tokenizer (expanding `<|AUDIO|>` to one token per encoder frame) and the feature extractor, and
    generate with `TINY_OMNI_GENERATE_KWARGS`.
    """
    import torch
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2_5OmniConfig,
        Qwen2_5OmniForConditionalGeneration,
        WhisperFeatureExtractor,
    )

    torch.manual_seed(seed)
    specials = {"audio_token": "<|AUDIO|>", "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>",
                "image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "vision_bos_token": "<|vision_bos|>",
                "vision_eos_token": "<|vision_eos|>"}
    tok = PreTrainedTokenizerFast(tokenizer_object=_tokenizer_object(), eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", unk_token="<unk>", extra_special_tokens=specials)
    tok.chat_template = _CHAT_TEMPLATE
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in specials.items()}
    h = hidden_size
    # Token ids the thinker and the talker share: the talker embeds text-side ids with the thinker's embedding,
    # so every tts_text_* / media id must be a thinker id, and every codec id a talker id (vocabulary 64).
    media = {"audio_token_index": ids["audio_token"], "image_token_index": ids["image_token"],
             "video_token_index": ids["video_token"], "audio_start_token_id": ids["audio_bos_token"],
             "audio_end_token_id": ids["audio_eos_token"], "vision_start_token_id": ids["vision_bos_token"],
             "vision_end_token_id": ids["vision_eos_token"]}
    rope = {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]}
    thinker = {
        "audio_config": {"num_mel_bins": 128, "encoder_layers": 1, "encoder_attention_heads": 2,
                         "encoder_ffn_dim": 2 * h, "d_model": h, "output_dim": h, "n_window": 100,
                         "max_source_positions": 1500},
        "vision_config": {"depth": 1, "hidden_size": h, "intermediate_size": 2 * h, "num_heads": 2,
                          "out_hidden_size": h, "fullatt_block_indexes": [0]},
        "text_config": {"vocab_size": len(tok), "hidden_size": h, "intermediate_size": 2 * h, "num_hidden_layers": 1,
                        "num_attention_heads": 2, "num_key_value_heads": 1, "rope_parameters": rope,
                        "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id,
                        "max_position_embeddings": 4096},
        **media,
    }
    talker = {"vocab_size": 64, "embedding_size": h, "hidden_size": h, "intermediate_size": 2 * h,
              "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": h // 2,
              "rope_parameters": rope, "max_position_embeddings": 4096, "tts_text_start_token_id": 10,
              "tts_text_end_token_id": 11, "tts_text_pad_token_id": 12, "tts_codec_start_token_id": 60,
              "tts_codec_end_token_id": 61, "tts_codec_pad_token_id": 62, "tts_codec_mask_token_id": 63, **media}
    # The speaker encoder concatenates its three middle blocks: its last channel count is 3x the others'. BigVGAN's
    # initial channels must stay >= 2 ** len(upsample_rates), or a convolution gets 0 channels.
    token2wav = {
        "dit_config": {"hidden_size": h, "num_hidden_layers": 2, "num_attention_heads": 2, "head_dim": h // 2,
                       "emb_dim": 16, "num_embeds": 64, "mel_dim": 80, "enc_emb_dim": 16, "enc_dim": 16,
                       "enc_channels": [32, 32, 32, 32, 96], "enc_attention_channels": 16, "enc_se_channels": 16,
                       "look_ahead_layers": [1], "look_backward_layers": [0]},
        "bigvgan_config": {"mel_dim": 80, "upsample_initial_channel": 128, "resblock_kernel_sizes": [3],
                           "resblock_dilation_sizes": [[1, 3, 5]]},
    }
    cfg = Qwen2_5OmniConfig(thinker_config=thinker, talker_config=talker, token2wav_config=token2wav,
                            enable_audio_output=True)
    model = Qwen2_5OmniForConditionalGeneration(cfg)
    # A random model has no voices; from_pretrained reloads spk_dict.pt into speaker_map.
    model.speaker_map = {"Chelsie": {"bos_token": 13, "cond": torch.randn(1, 16), "ref_mel": torch.randn(1, 30, 80)}}
    if audible:
        conv = model.token2wav.code2wav_bigvgan_model.conv_post
        with torch.no_grad():
            conv.weight.mul_(AUDIBLE_GAIN)
            if conv.bias is not None:
                conv.bias.mul_(AUDIBLE_GAIN)
    model.save_pretrained(path)
    torch.save(model.speaker_map, os.path.join(path, "spk_dict.pt"))
    tok.save_pretrained(path)
    WhisperFeatureExtractor(feature_size=128).save_pretrained(path)
    return path


def main(argv=None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m parass2s_hf.testing",
                                     description="Build tiny random checkpoints offline (their outputs are noise).")
    parser.add_argument("folder", help="where to write whisper/, qwen2_audio/ and qwen2/")
    parser.add_argument("--omni", action="store_true", help="also a tiny Qwen2.5-Omni in omni/ (it speaks silence)")
    parser.add_argument("--omni_audible", action="store_true",
                        help="also a tiny Qwen2.5-Omni whose noise sounds, in omni_audible/ (the Omni GRPO and loop "
                             "recipes)")
    args = parser.parse_args(argv)
    paths = build_tiny_checkpoints(args.folder)
    if args.omni:
        paths["omni"] = build_tiny_omni(os.path.join(args.folder, "omni"))
    if args.omni_audible:
        paths["omni_audible"] = build_tiny_omni(os.path.join(args.folder, "omni_audible"), audible=True)
    print(json.dumps(paths, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def build_tiny_audio_classifier(path: str, labels, hidden_size: int = 32, conv_channels: int = 16,
                                seed: int = 0) -> str:
    """A random wav2vec2 audio classifier over `labels` with its feature extractor (a PolyTone analyzer's base).

    About 23 k parameters: wav2vec2's seven-layer convolutional front end on raw 16 kHz audio (the usual kernels and
    strides, 50 frames a second) with `conv_channels` channels, one transformer layer, a mean-pooling head. Layer
    norms in the front end and an attention mask from the feature extractor make its outputs independent of the
    padding, so clips of any length can share a batch. Unlike the other tiny models it can learn: trained on espeak-ng
    PolyTone clips for gender or age, it reaches high held-out accuracy on a CPU in seconds (tests/test_polytone.py).

    Why not Whisper: its feature extractor and encoder work on a fixed window (30 s: 3000 mel frames), which makes a
    step several times slower on a CPU, and the judge's `models.AudioClassifierBackend` pads a batch to its longest clip,
    which a Whisper encoder refuses.

    From a shell (the tiny base of `examples/configs/polytone_cpu_smoke.yaml`):
    `python -c "from parass2s_hf.testing import build_tiny_audio_classifier as b; b('tiny/analyzer_gender', ['male', 'female'])"`
    """
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    labels = [str(label) for label in labels]
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError(f"labels={labels}; expected at least two distinct labels.")
    torch.manual_seed(seed)
    cfg = Wav2Vec2Config(
        vocab_size=8, hidden_size=hidden_size, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=2 * hidden_size, conv_dim=(conv_channels,) * 7, feat_extract_norm="layer",
        do_stable_layer_norm=True, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        classifier_proj_size=hidden_size, apply_spec_augment=False, hidden_dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0, feat_proj_dropout=0.0, final_dropout=0.0, layerdrop=0.0,
        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={s: i for i, s in enumerate(labels)})
    Wav2Vec2ForSequenceClassification(cfg).save_pretrained(path)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(path)
    return path
