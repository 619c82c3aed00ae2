"""Loading a base model to fine-tune: an audio LLM to distil the judge into (reward model), an audio classifier to
train as a style analyzer. The GRPO and SFT policies are loaded by TRL instead (`model_init_kwargs`), with
`quantization_config` from `settings`."""

from __future__ import annotations

from collections.abc import Sequence

from .settings import quantization_config, torch_dtype


def audio_llm_for_training(model_id: str, dtype: str = "auto", load_in_4bit: bool = False,
                           trust_remote_code: bool = False, device_index: int = 0):
    """An audio LLM and its processor, in full precision or with the language model in 4-bit NF4 (the audio tower,
    projector and LM head unquantised; the whole model on GPU `device_index`, the process's own GPU in data-parallel
    training).

    Raises:
        `ValueError`: the checkpoint has no audio feature extractor (not an audio LLM).
    """
    import torch
    from transformers import AutoModelForMultimodalLM, AutoProcessor

    kwargs = {"dtype": torch_dtype(dtype), "trust_remote_code": trust_remote_code}
    quantization = quantization_config(load_in_4bit=load_in_4bit)
    if quantization is not None:
        kwargs["quantization_config"] = quantization
        kwargs["device_map"] = {"": device_index} if torch.cuda.is_available() else "cpu"
    model = AutoModelForMultimodalLM.from_pretrained(model_id, **kwargs)
    processor = AutoProcessor.from_pretrained(model_id, trust_remote_code=trust_remote_code)
    if getattr(processor, "feature_extractor", None) is None:
        raise ValueError(f"{model_id!r} has no audio feature extractor: the reward model must be an audio LLM (e.g. "
                         f"Qwen/Qwen2-Audio-7B-Instruct) that hears both clips.")
    return model, processor


def audio_classifier_for_training(model_id: str, labels: Sequence[str], ignore_mismatched_sizes: bool = True):
    """An audio classifier over `labels` (a new head when the checkpoint's labels differ) and its feature extractor.

    Returns:
        `(model, extractor, base_labels)`: the model, its feature extractor, and the labels the checkpoint had.
    """
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

    labels = list(labels)
    base_labels = [str(v).lower() for v in AutoConfig.from_pretrained(model_id).id2label.values()]
    model = AutoModelForAudioClassification.from_pretrained(
        model_id, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={s: i for i, s in enumerate(labels)},
        ignore_mismatched_sizes=ignore_mismatched_sizes)
    return model, AutoFeatureExtractor.from_pretrained(model_id), base_labels


def load_pretrained(class_name: str, model_id: str, settings) -> object:
    """`transformers.<class_name>.from_pretrained(model_id)` with the arguments of `settings` (`LoadSettings`): how a
    model whose class the caller chooses (an Omni speech-output model) loads like every other."""
    import transformers

    from .settings import load_kwargs

    return getattr(transformers, class_name).from_pretrained(model_id, **load_kwargs(settings)).eval()
