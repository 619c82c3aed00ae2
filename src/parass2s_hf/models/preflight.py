"""Preflight: every model and endpoint a command will use, checked in about a second, before any data is prepared or
any weight is loaded.

Without it, a checkpoint that is not available offline is found only when it loads, after minutes of rendering or
scoring, as a long `OSError` that does not name the setting; a model of the wrong kind (a text LLM given as the ASR
model) only when its stage starts. Here each problem is one line naming the setting as the command line spells it, the
value, what is wrong and the fix, and `preflight` reports every problem of a command at once.

```python
>>> from parass2s_hf.models import ModelCheck, judge_checks, preflight
>>> preflight([ModelCheck("--model_name_or_path", "Qwen/Qwen2-Audio-7B-Instruct", "audio_llm"),
...            *judge_checks(judge_config, prefix="--judge_")])
PreflightError: 2 settings are wrong:
  - --model_name_or_path 'Qwen/Qwen2-Audio-7B-Instruct': not a local folder, and not in the Hub cache (offline) ...
  - --judge_asr_model 'openai/whisper-large-v3': not a local folder, and not in the Hub cache (offline) ...
```

What is read: a local model folder's `config.json` (and, for the roles that hear audio, its `preprocessor_config.json`
or `processor_config.json`); for a Hub id, the same files from the Hub cache (`huggingface_hub.try_to_load_from_cache`,
a file-system lookup), or, online and not cached, downloaded alone (a few kB). Weights are never read or downloaded,
and with `HF_HUB_OFFLINE=1` nothing waits on the network. A served stage's endpoint gets one `GET {api_base}/models`
with a 5 s timeout.

A PEFT adapter (role `adapter`, e.g. the judge's `reward_adapter`) is a folder, or a cached Hub repository, holding
`adapter_config.json`; every other role needs a full checkpoint (`config.json`): an adapter folder given as a model
is refused with the advice to merge it into its base first, as the training scripts' `merge_output_dir` does.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

ROLES = ("asr", "audio_llm", "text_llm", "audio_classifier", "omni", "tts", "model", "adapter")
"""What a checkpoint can be asked to be (`check_model(role=...)`)."""

OMNI_MODEL_TYPES = ("qwen2_5_omni", "qwen3_omni_moe")
"""Speech-output Omni checkpoints (thinker and talker) that the `omni` system under test runs."""

ROLE_NEEDS = {
    "asr": ("a speech-to-text model (AutoModelForSpeechSeq2Seq)", "openai/whisper-large-v3"),
    "audio_llm": ("a multimodal LM that hears audio (AutoModelForMultimodalLM with a feature extractor)",
                  "Qwen/Qwen2-Audio-7B-Instruct"),
    "text_llm": ("a causal chat LM (AutoModelForCausalLM)", "Qwen/Qwen2.5-7B-Instruct"),
    "audio_classifier": ("an audio classifier (AutoModelForAudioClassification)", "facebook/wav2vec2-base"),
    "omni": (f"a speech-output Omni model (model type {' or '.join(OMNI_MODEL_TYPES)})", "Qwen/Qwen2.5-Omni-7B"),
    "tts": ("a text-to-speech model (AutoModelForTextToWaveform or AutoModelForTextToSpectrogram)",
            "facebook/mms-tts-eng"),
    "model": ("a transformers model", "Qwen/Qwen2-Audio-7B-Instruct"),
    "adapter": ("a PEFT adapter (a folder with adapter_config.json)", "runs/reward-model"),
}
"""Per role: what it needs, in messages, and an example of a checkpoint that fits."""

ENDPOINT_TIMEOUT = 5.0
"""Seconds `check_endpoint` waits for `GET {api_base}/models`: a server that answers does so in milliseconds."""

HUB_TIMEOUT = 5.0
"""Seconds an online lookup of a small file on the Hub may wait for the server's first answer."""

OPENAI_API_BASE = "https://api.openai.com/v1"
"""Where the `openai` client goes when no `api_base` is given."""

_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
_MISSING, _UNKNOWN = "missing", "unknown"  # a file the repository does not have / the offline cache cannot tell


class PreflightError(ValueError):
    """Everything `preflight` found wrong; the first line of the message says how many settings, then one per line.

    Attributes:
        problems (`list[str]`): one line per wrong setting.
    """

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        n = len(self.problems)
        if n == 1:
            message = f"1 setting is wrong: {self.problems[0]}"
        else:
            message = f"{n} settings are wrong:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class _Problem(Exception):
    """What is wrong with one value and how to fix it; `check_model` prefixes the setting and the value."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _offline(offline: bool | None) -> bool:
    """`offline`, or the Hub's offline mode: the constant huggingface_hub read at import, or the variable now (a caller
    may set it after importing, and must then not wait on the network either)."""
    if offline is not None:
        return bool(offline)
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").upper() in constants.ENV_VARS_TRUE_VALUES


@lru_cache(maxsize=1)
def _kinds() -> dict:
    """Model types per role, from transformers' own auto mappings (what `AutoModelFor...` would accept).

    Importing those mappings imports transformers (about 2 s), which a check of config files should not cost: the
    sets are kept in a small JSON file beside the file-hash cache, keyed by the installed transformers version."""
    from importlib.metadata import version

    from ..io import hash_cache_file, write_json

    path = os.path.join(os.path.dirname(hash_cache_file()), "model_kinds.json")
    key = version("transformers")
    try:
        with open(path, encoding="utf-8") as f:
            stored = json.load(f)
        if stored.get("transformers") == key and stored.get("omni") == sorted(OMNI_MODEL_TYPES) and \
                set(stored["kinds"]) == {*ROLES, "known"} - {"adapter"}:
            return {role: set(types) for role, types in stored["kinds"].items()}
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        pass  # absent or damaged: computed again below
    kinds = _kinds_from_transformers()
    try:
        write_json(path, {"transformers": key, "omni": sorted(OMNI_MODEL_TYPES),
                          "kinds": {role: sorted(types) for role, types in kinds.items()}})
    except OSError:
        pass  # a read-only home: the check still works, only slower next time
    return kinds


def _kinds_from_transformers() -> dict:
    from transformers.models.auto import modeling_auto as auto
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    speech = set(auto.MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES)
    return {
        "asr": speech,
        "audio_llm": set(auto.MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES),
        # Whisper has a `ForCausalLM` class (its decoder alone): it is no chat model, though the mapping lists it.
        "text_llm": set(auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES) - speech,
        "audio_classifier": set(auto.MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES),
        "omni": set(OMNI_MODEL_TYPES),
        "tts": set(auto.MODEL_FOR_TEXT_TO_WAVEFORM_MAPPING_NAMES) | set(auto.MODEL_FOR_TEXT_TO_SPECTROGRAM_MAPPING_NAMES),
        "model": set(CONFIG_MAPPING_NAMES),  # any model transformers knows: where the role is the caller's to tell
        "known": set(CONFIG_MAPPING_NAMES),
    }


def _looks_like_path(model_id: str) -> bool:
    """Whether `model_id` can only be meant as a path (a Hub id is `name` or `owner/name`)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if model_id.startswith(("/", ".", "~")) or "\\" in model_id or os.path.isabs(model_id):
        return True
    try:
        validate_repo_id(model_id)
    except HFValidationError:
        return True
    return False


class _Files:
    """Small files of one checkpoint: from its folder, or from the Hub cache (downloaded alone when online)."""

    def __init__(self, model_id: str, revision: str | None, offline: bool):
        self.model_id = model_id
        self.revision = revision
        self.offline = offline
        self.local = os.path.isdir(model_id)

    def get(self, filename: str) -> str:
        """The local path of `filename`, `_MISSING` when the checkpoint has none, or `_UNKNOWN` when offline and the
        cache does not know."""
        if self.local:
            path = os.path.join(self.model_id, filename)
            return path if os.path.isfile(path) else _MISSING
        from huggingface_hub import _CACHED_NO_EXIST, try_to_load_from_cache

        found = try_to_load_from_cache(self.model_id, filename, revision=self.revision)
        if isinstance(found, str):
            return found
        if found is _CACHED_NO_EXIST:
            return _MISSING
        if self.offline:
            return _UNKNOWN
        return self._download(filename)

    def _download(self, filename: str) -> str:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            GatedRepoError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        try:
            return hf_hub_download(self.model_id, filename, revision=self.revision, etag_timeout=HUB_TIMEOUT)
        except LocalEntryNotFoundError as e:  # the Hub could not be reached, and the cache has no copy
            raise _Problem(f"not a local folder, not in the Hub cache, and the Hub cannot be reached "
                           f"({_one_line(e)[:120]}): download it where the Hub is reachable (`hf download "
                           f"{self.model_id}`), or pass a local folder") from None
        except EntryNotFoundError:
            return _MISSING
        except GatedRepoError:
            raise _Problem(f"is a gated repository on the Hub: accept its terms on huggingface.co/{self.model_id} and "
                           f"log in (`hf auth login`)") from None
        except RepositoryNotFoundError:
            raise _Problem("not a local folder, and not a model on the Hub (a private one needs `hf auth login`): "
                           "check the name, or pass a local folder") from None
        except RevisionNotFoundError:
            raise _Problem(f"the Hub repository has no revision {self.revision!r}") from None
        except OSError as e:  # any other HTTP or connection error
            raise _Problem(f"the Hub could not be asked for its {filename} ({type(e).__name__}: "
                           f"{_one_line(e)[:120]}): set HF_HUB_OFFLINE=1 to use the cache, or pass a local "
                           f"folder") from None

    def read(self, filename: str) -> dict | str:
        """The parsed JSON of `filename`, or `_MISSING` / `_UNKNOWN`."""
        path = self.get(filename)
        if path in (_MISSING, _UNKNOWN):
            return path
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise _Problem(f"its {filename} cannot be read ({type(e).__name__}: {_one_line(e)[:120]})") from None
        if not isinstance(data, dict):
            raise _Problem(f"its {filename} is not a JSON object")
        return data


def _not_found(files: _Files, filename: str) -> _Problem:
    """Why the checkpoint's `filename` (config.json, adapter_config.json) is not there, with the fix."""
    model_id = files.model_id
    what = "PEFT adapter" if filename.startswith("adapter") else "transformers model"
    if files.local:
        return _Problem(f"is a folder without {filename}: not a {what} folder; pass the folder that holds {filename}")
    if os.path.exists(model_id):
        return _Problem("is a file, not a model folder; pass the folder that holds config.json, or a Hub id")
    if _looks_like_path(model_id):
        return _Problem("no such local folder (and not a Hub id); check the path")
    if files.offline:
        revision = f" --revision {files.revision}" if files.revision not in (None, "main") else ""
        return _Problem(f"not a local folder, and not in the Hub cache (offline): download it first with "
                        f"`hf download {model_id}{revision}`, or pass a local folder")
    return _Problem(f"the Hub repository has no {filename}: not a {what}")


def _has_feature_extractor(files: _Files) -> str:
    """`"yes"`, `"no"`, or `_UNKNOWN` (offline, and the cache holds none of the processor files)."""
    states = []
    for filename in _PROCESSOR_FILES:
        data = files.read(filename)
        if isinstance(data, dict):
            if filename == "preprocessor_config.json":
                # a feature extractor's own file; an image processor's has image_processor_type instead
                if "feature_extractor_type" in data or ("feature_size" in data and "image_processor_type" not in data):
                    return "yes"
            elif isinstance(data.get("feature_extractor"), dict) or isinstance(data.get("audio_processor"), dict):
                return "yes"  # a processor saved as one file, its feature extractor nested
            states.append("no")
        else:
            states.append(data)
    return _UNKNOWN if _UNKNOWN in states and "no" not in states else "no"


def _check_kind(config: dict, role: str, trust_remote_code: bool) -> str:
    """The model type of `config` if it fits `role`; else a `_Problem` saying why."""
    kind = config.get("model_type")
    if not kind:
        raise _Problem("its config.json has no model_type: not a transformers checkpoint")
    kinds = _kinds()
    if kind not in kinds["known"]:
        if config.get("auto_map"):
            if not trust_remote_code:
                raise _Problem(f"its model type {kind!r} is defined by code shipped with the checkpoint (auto_map), "
                               f"which runs only with trust_remote_code: set it if you trust that code")
            return kind  # the checkpoint's own classes: what they are cannot be told without running their code
        import transformers

        raise _Problem(f"its model type {kind!r} is unknown to transformers {transformers.__version__}: upgrade it "
                       f"(pip install -U transformers)")
    if kind not in kinds[role]:
        need, example = ROLE_NEEDS[role]
        raise _Problem(f"is a {kind!r} checkpoint, but the {role} role needs {need}: pass e.g. {example}")
    return kind


def check_model(setting: str, model_id: str, role: str, trust_remote_code: bool = False, offline: bool | None = None,
                *, revision: str | None = None, labels: Sequence[str] | None = None,
                labels_name: str | None = None) -> str:
    """Check, without loading weights, that `model_id` is available and is the kind of model `role` needs.

    Reads `config.json` (or a PEFT adapter's `adapter_config.json`) from the folder or the Hub cache, and, for the
    roles that hear audio (`audio_llm`, `audio_classifier`), the processor files, which must describe a feature
    extractor. Offline, a Hub id must be in the cache; online and not cached, only those small files are downloaded.

    Args:
        setting (`str`): the setting as the command line spells it (e.g. `"--judge_asr_model"`), named in messages.
        model_id (`str`): a local folder or a Hub id.
        role (`str`): one of `ROLES`: `"asr"` (speech-to-text), `"audio_llm"` (multimodal LM with audio),
            `"text_llm"` (causal LM), `"audio_classifier"`, `"omni"` (Qwen2.5-Omni / Qwen3-Omni), `"tts"`, `"model"`
            (any model transformers knows) or `"adapter"`
            (a PEFT adapter).
        trust_remote_code (`bool`, *optional*, defaults to `False`): whether checkpoint code will be allowed: a model
            type defined by such code is then accepted unchecked.
        offline (`bool`, *optional*): never use the network; defaults to the Hub's offline mode (`HF_HUB_OFFLINE`).
        revision (`str`, *optional*): the Hub revision that will be loaded.
        labels (`list[str]`, *optional*): `audio_classifier`: the labels it must have (compared lower-cased, as the
            judge does), e.g. one dimension's styles.
        labels_name (`str`, *optional*): what `labels` are, in messages (e.g. `"gender styles"`).

    Returns:
        `str`: the checkpoint's `model_type` (for an adapter, its `peft_type`, lower-cased, e.g. `"lora"`).

    Raises:
        `ValueError`: one line naming `setting`, the value, what is wrong and the fix.
    """
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; expected one of {list(ROLES)}.")
    need, example = ROLE_NEEDS[role]
    if not isinstance(model_id, (str, os.PathLike)) or not str(model_id).strip():
        raise ValueError(f"{setting} is not set: the {role} role needs {need}, e.g. {example}.")
    model_id = os.fspath(model_id)
    try:
        return _check_model(model_id, role, bool(trust_remote_code), _offline(offline), revision, labels, labels_name)
    except _Problem as e:
        raise ValueError(f"{setting} {model_id!r}: {_one_line(e)}.") from None


def _check_model(model_id, role, trust_remote_code, offline, revision, labels, labels_name) -> str:
    files = _Files(model_id, revision, offline)
    if not files.local and (os.path.exists(model_id) or _looks_like_path(model_id)):
        raise _not_found(files, "adapter_config.json" if role == "adapter" else "config.json")
    if role == "adapter":
        config = files.read("adapter_config.json")
        if not isinstance(config, dict):
            if isinstance(files.read("config.json"), dict):
                raise _Problem("is a full model, not a PEFT adapter (no adapter_config.json): pass it as the model "
                               "itself, or pass the adapter's folder")
            raise _not_found(files, "adapter_config.json")
        if importlib.util.find_spec("peft") is None:  # found, not imported: importing peft takes a second or more
            raise _Problem("a PEFT adapter needs peft, which is not installed: pip install 'parass2s_hf[train]'")
        return str(config.get("peft_type") or "unknown").lower()

    config = files.read("config.json")
    if not isinstance(config, dict):
        adapter = files.read("adapter_config.json")
        if isinstance(adapter, dict):
            base = adapter.get("base_model_name_or_path")
            raise _Problem(f"is a PEFT adapter (adapter_config.json{f', base {base}' if base else ''}), not a full "
                           f"model: merge it into its base first (the training scripts' merge_output_dir), or pass "
                           f"the base model")
        raise _not_found(files, "config.json")
    kind = _check_kind(config, role, trust_remote_code)

    if role in ("audio_llm", "audio_classifier"):
        need, example = ROLE_NEEDS[role]
        state = _has_feature_extractor(files)
        if state == _UNKNOWN:
            raise _Problem(f"its processor files ({' or '.join(_PROCESSOR_FILES)}) are not in the Hub cache "
                           f"(offline): download the whole repository with `hf download {model_id}`")
        if state == "no":
            raise _Problem(f"has no feature extractor (no {' or '.join(_PROCESSOR_FILES)} describing one), so it "
                           f"cannot hear audio: the {role} role needs {need}, e.g. {example}")
    if labels is not None and role == "audio_classifier":
        have = {str(v).lower() for v in (config.get("id2label") or {}).values()}
        if have != {str(label).lower() for label in labels}:
            raise _Problem(f"has labels {sorted(have)}, not the {labels_name or 'labels it needs'} {list(labels)}")
    return kind


def check_endpoint(setting: str, api_base: str | None, model: str, api_key_env: str, role: str, probe: bool = True,
                   *, timeout: float = ENDPOINT_TIMEOUT, model_setting: str | None = None) -> list[str] | None:
    """Check a served stage: the `openai` client is installed, the key variable is set, and (with `probe`) the server
    answers one `GET {api_base}/models` within `timeout` seconds and, when it lists its models, serves `model`.

    Args:
        setting (`str`): the endpoint's setting as the command line spells it (e.g. `"--judge_rubric_api_base"`).
        api_base (`str`, *optional*): the endpoint's base URL (`None`: OpenAI's).
        model (`str`): the model name requests will send.
        api_key_env (`str`): the environment variable holding the key (the key is sent to `api_base` only, and never
            appears in a message).
        role (`str`): what the endpoint is for, in messages (e.g. `"rubric_model"`).
        probe (`bool`, *optional*, defaults to `True`): make the request; `False` checks the client and the key only.
        timeout (`float`, *optional*, defaults to `ENDPOINT_TIMEOUT`): seconds to wait for the answer.
        model_setting (`str`, *optional*): the setting holding `model`, named when the server does not serve it.

    Returns:
        `list[str]` or `None`: the model ids the server lists (`None` without `probe`, or when it lists none).

    Raises:
        `ValueError`: one line naming `setting`, the URL, what is wrong and the fix.
    """
    url = api_base or OPENAI_API_BASE
    where = f"{setting} {url!r}"
    if importlib.util.find_spec("openai") is None:  # found, not imported: the import alone takes most of a second
        raise ValueError(f"{where}: the {role} endpoint needs the openai client, which is not installed: "
                         f"pip install 'parass2s_hf[api]'.")
    key = os.environ.get(api_key_env or "")
    if not key:
        raise ValueError(f"{where}: the {role} endpoint needs an API key, but the environment variable "
                         f"{api_key_env} is unset or empty: export it (any value, e.g. EMPTY, for a vLLM server "
                         f"started without --api-key).")
    if not probe:
        return None
    import http.client
    import urllib.error
    import urllib.parse
    import urllib.request

    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise ValueError(f"{where}: not an http(s) URL; give the endpoint's base URL, e.g. http://localhost:8000/v1.")
    models_url = url.rstrip("/") + "/models"
    request = urllib.request.Request(models_url, headers={"Authorization": f"Bearer {key}",
                                                          "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(2_000_000)
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            raise ValueError(f"{where}: the {role} endpoint refused the key in {api_key_env} (HTTP {e.code} on GET "
                             f"{models_url}): export the right key.") from None
        return None  # it answers: a server without a model list is still a server
    except (OSError, ValueError, http.client.HTTPException) as e:  # refused, timed out, unknown host, TLS, no HTTP
        reason = _one_line(getattr(e, "reason", None) or e)[:160]
        raise ValueError(f"{where}: the {role} endpoint does not answer (GET {models_url}: {type(e).__name__}: "
                         f"{reason}): start the server, or fix the URL.") from None
    try:
        listed = [str(m.get("id")) for m in json.loads(body).get("data", []) if isinstance(m, dict)]
    except (ValueError, AttributeError):
        return None  # not the OpenAI list format: nothing more to check
    if listed and model not in listed:
        shown = ", ".join(listed[:8]) + (", ..." if len(listed) > 8 else "")
        raise ValueError(f"{where}: the {role} endpoint does not serve {model!r} (it serves {shown}): set "
                         f"{model_setting or 'the model name'} to one of them.")
    return listed or None


@dataclass(frozen=True)
class ModelCheck:
    """A deferred `check_model`, for `preflight`: `ModelCheck("--asr", "openai/whisper-large-v3", "asr")()`.

    Args:
        setting, model_id, role, trust_remote_code, offline, revision, labels, labels_name: as in `check_model`.
    """

    setting: str
    model_id: str | None
    role: str
    trust_remote_code: bool = False
    offline: bool | None = None
    revision: str | None = None
    labels: tuple | None = None
    labels_name: str | None = None

    def __call__(self) -> str:
        return check_model(self.setting, self.model_id, self.role, self.trust_remote_code, self.offline,
                           revision=self.revision, labels=self.labels, labels_name=self.labels_name)


@dataclass(frozen=True)
class EndpointCheck:
    """A deferred `check_endpoint`, for `preflight`.

    Args:
        setting, api_base, model, api_key_env, role, probe, timeout, model_setting: as in `check_endpoint`.
    """

    setting: str
    api_base: str | None
    model: str
    api_key_env: str
    role: str
    probe: bool = True
    timeout: float = ENDPOINT_TIMEOUT
    model_setting: str | None = None

    def __call__(self) -> list[str] | None:
        return check_endpoint(self.setting, self.api_base, self.model, self.api_key_env, self.role, self.probe,
                              timeout=self.timeout, model_setting=self.model_setting)


def preflight(checks: Iterable[Callable[[], object]], max_workers: int = 8) -> None:
    """Run every check and report every problem at once, so a user fixes them all in one go.

    Args:
        checks (`list`): callables without arguments that raise `ValueError` (or `ImportError`) with one line on a
            problem: `ModelCheck`, `EndpointCheck`, `judge_checks(...)`, or your own.
        max_workers (`int`, *optional*, defaults to `8`): checks run at once; endpoints that time out then cost one
            timeout together, not one each.

    Raises:
        `PreflightError` (a `ValueError`): the first line says how many settings are wrong, then one line each.
    """
    checks = list(checks)
    if not checks:
        return
    if any(isinstance(c, ModelCheck) for c in checks):
        _kinds()  # import transformers' mappings once, before the threads
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(checks)))) as pool:
        futures = [pool.submit(check) for check in checks]
    problems = []
    for future in futures:
        error = future.exception()
        if error is None:
            continue
        if not isinstance(error, (ValueError, ImportError)):
            raise error
        line = _one_line(error)
        if line not in problems:  # the same value checked twice for one setting says it once
            problems.append(line)
    if problems:
        raise PreflightError(problems)


def judge_checks(judge_config, prefix: str = "--judge_", *, names: Mapping[str, str] | None = None,
                 probe: bool = True, offline: bool | None = None) -> list:
    """The checks of every model and endpoint a `ParaS2SJudge` with `judge_config` will use.

    - `multistage`: `asr_model` (role `asr`), `rubric_model` (`text_llm`), each of `style_analyzers`
      (`audio_classifier` with that dimension's styles as labels), and `audio_llm` (`audio_llm`) when it will run:
      with `use_response_tone` (the tone stage), or `query_labels="predicted"` with a dimension that has no analyzer.
      (With `use_response_tone=False` and given labels it is loaded only for a query without a label, and not
      checked.)
    - `end2end`: `audio_llm`.
    - `reward_model`: `reward_model`, or `audio_llm` when it is unset (role `audio_llm`), and `reward_adapter` (role
      `adapter`).
    A stage with its `*_api_base` is served: its endpoint is checked (`check_endpoint`) instead of a model.

    Args:
        judge_config (`JudgeConfig` or `dict`): the judge's settings (a dict of `JudgeConfig` fields, as the GRPO
            recipe's `judge_config`, is read as one).
        prefix (`str`, *optional*, defaults to `"--judge_"`): how the command line spells a field: the setting of
            field `asr_model` is `prefix + "asr_model"`.
        names (`dict[str, str]`, *optional*): settings spelt otherwise, by field (e.g. `{"asr_model": "--judge-asr"}`).
        probe (`bool`, *optional*, defaults to `True`): ask served endpoints whether they answer.
        offline (`bool`, *optional*): as in `check_model`.

    Returns:
        `list`: `ModelCheck` and `EndpointCheck` objects, to give `preflight`.
    """
    from ..constants import DIMENSIONS, STYLES
    from ..judge.config import JudgeConfig

    cfg = JudgeConfig(**judge_config) if isinstance(judge_config, Mapping) else judge_config
    names = dict(names or {})

    def name(field: str) -> str:
        return names.get(field, f"{prefix}{field}")

    trust = bool(cfg.trust_remote_code)

    def model(field: str, model_id, role: str, **kwargs) -> ModelCheck:
        return ModelCheck(name(field), model_id, role, trust, offline, **kwargs)

    def served(url_field: str, model_field: str, role: str) -> EndpointCheck:
        return EndpointCheck(name(url_field), getattr(cfg, url_field), getattr(cfg, model_field), cfg.api_key_env,
                             role, probe, model_setting=name(model_field))

    checks = []
    if cfg.mode == "multistage":
        checks.append(served("asr_api_base", "asr_model", "asr") if cfg.asr_api_base
                      else model("asr_model", cfg.asr_model, "asr"))
        predicts = cfg.query_labels == "predicted" and any(d not in cfg.style_analyzers for d in DIMENSIONS)
        if cfg.use_response_tone or predicts:
            checks.append(served("audio_llm_api_base", "audio_llm", "audio_llm") if cfg.audio_llm_api_base
                          else model("audio_llm", cfg.audio_llm, "audio_llm"))
        checks.append(served("rubric_api_base", "rubric_model", "rubric_model") if cfg.rubric_api_base
                      else model("rubric_model", cfg.rubric_model, "text_llm"))
        for dimension, analyzer in cfg.style_analyzers.items():
            checks.append(ModelCheck(f"{name('style_analyzers')}[{dimension}]", analyzer, "audio_classifier", trust,
                                     offline, labels=tuple(STYLES[dimension]), labels_name=f"{dimension} styles"))
    elif cfg.mode == "end2end":
        checks.append(served("audio_llm_api_base", "audio_llm", "audio_llm") if cfg.audio_llm_api_base
                      else model("audio_llm", cfg.audio_llm, "audio_llm"))
    else:  # reward_model: the same choice as ParaS2SJudge.reward
        if cfg.reward_api_base:
            checks.append(served("reward_api_base", "reward_model" if cfg.reward_model else "audio_llm",
                                 "reward_model"))
        elif cfg.reward_model is None and cfg.reward_adapter is None and cfg.audio_llm_api_base:
            checks.append(served("audio_llm_api_base", "audio_llm", "reward_model"))
        else:
            field = "reward_model" if cfg.reward_model else "audio_llm"
            checks.append(model(field, getattr(cfg, field), "audio_llm"))
            if cfg.reward_adapter:
                checks.append(model("reward_adapter", cfg.reward_adapter, "adapter"))
    return checks


__all__ = ["ENDPOINT_TIMEOUT", "OMNI_MODEL_TYPES", "ROLES", "EndpointCheck", "ModelCheck", "PreflightError",
           "check_endpoint", "check_model", "judge_checks", "preflight"]
