"""Preflight (`parass2s_hf.models.preflight`): a model that is not available offline, a folder that holds no model, a
model of the wrong kind for its role and an endpoint that is down are each reported in one line naming the setting and
the value, all at once, in seconds, before any data is prepared or model loaded: in the library, in `parass2s
validate-judge` and in the four training scripts."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import load_example

from parass2s_hf.judge import JudgeConfig
from parass2s_hf.models import (
    EndpointCheck,
    ModelCheck,
    PreflightError,
    check_endpoint,
    check_model,
    judge_checks,
    preflight,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "examples", "configs")
FAST = 5.0  # seconds: a preflight problem must be reported well within this
MISSING_HUB_ID = "nobody-parass2s/no-such-model"


class Reached(Exception):
    """Raised by a stand-in for the first piece of real work: the run got past preflight."""


def must_not_run(*args, **kwargs):
    raise AssertionError("work started before the models were checked")


def reached(*args, **kwargs):
    raise Reached


@pytest.fixture
def no_config(tmp_path):
    """A folder that exists but holds no model (no config.json)."""
    folder = tmp_path / "not_a_model"
    folder.mkdir()
    (folder / "README.md").write_text("weights go here\n")
    return str(folder)


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory):
    from parass2s_hf.testing import build_tiny_audio_classifier

    return build_tiny_audio_classifier(str(tmp_path_factory.mktemp("analyzer") / "gender"), ["male", "female"])


@pytest.fixture
def closed_url():
    """The URL of a port on 127.0.0.1 that nothing listens on: bound for a free number, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@contextlib.contextmanager
def models_server(status=200, served=("served-model",)):
    """An OpenAI-compatible `GET /v1/models` answering `status` and the list `served`; yields (base URL, requests)."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append((self.path, self.headers.get("Authorization")))
            body = json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in served]}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", requests
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def hub_cache_entry(repo_id, files, missing=()):
    """`repo_id` in the (private, test) Hub cache, as `hf download` leaves it: `files` (name -> source path) in a
    snapshot that `refs/main` points to, and `missing` names recorded as absent from the repository."""
    from huggingface_hub import constants

    root = os.path.join(constants.HF_HUB_CACHE, "models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = os.path.join(root, "snapshots", commit)
    os.makedirs(snapshot)
    os.makedirs(os.path.join(root, "refs"))
    with open(os.path.join(root, "refs", "main"), "w") as f:
        f.write(commit)
    for name, source in files.items():
        shutil.copy(source, os.path.join(snapshot, name))
    for name in missing:
        os.makedirs(os.path.join(root, ".no_exist", commit), exist_ok=True)
        open(os.path.join(root, ".no_exist", commit, name), "w").close()
    try:
        yield repo_id
    finally:
        shutil.rmtree(root)


def timed(fn, *args, **kwargs):
    """(the exception `fn` raised, seconds it took)."""
    start = time.perf_counter()
    try:
        fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the test inspects it
        return e, time.perf_counter() - start
    raise AssertionError(f"{fn.__name__} did not fail")


# ---------------------------------------------------------------------------------------------------- check_model


def test_good_tiny_checkpoints_pass_for_their_roles(tiny, analyzer):
    start = time.perf_counter()
    assert check_model("--asr", tiny["asr"], "asr") == "whisper"
    assert check_model("--audio_llm", tiny["audio_llm"], "audio_llm") == "qwen2_audio"
    assert check_model("--rubric", tiny["text_llm"], "text_llm") == "qwen2"
    assert check_model("--analyzer", analyzer, "audio_classifier", labels=["Male", "female"]) == "wav2vec2"
    assert time.perf_counter() - start < 1.0  # four models: no weights read


def test_a_hub_id_not_in_the_offline_cache_names_the_setting_the_value_and_the_download(tiny):
    error, seconds = timed(check_model, "--judge_asr_model", MISSING_HUB_ID, "asr")
    assert seconds < 1.0 and isinstance(error, ValueError) and "\n" not in str(error)
    assert str(error) == (f"--judge_asr_model {MISSING_HUB_ID!r}: not a local folder, and not in the Hub cache "
                          f"(offline): download it first with `hf download {MISSING_HUB_ID}`, or pass a local folder.")


@pytest.mark.parametrize("value, problem", [
    ("/nonexistent/whisper", "no such local folder"),
    ("a/b/c", "no such local folder"),
    (__file__, "is a file, not a model folder"),
])
def test_paths_that_hold_no_model_are_named(value, problem):
    with pytest.raises(ValueError, match="^--asr_model ") as info:
        check_model("--asr_model", value, "asr")
    assert repr(value) in str(info.value) and problem in str(info.value)


def test_a_folder_without_config_json_is_refused(no_config):
    with pytest.raises(ValueError) as info:
        check_model("--judge_audio_llm", no_config, "audio_llm")
    assert str(info.value) == (f"--judge_audio_llm {no_config!r}: is a folder without config.json: not a transformers "
                               f"model folder; pass the folder that holds config.json.")
    with pytest.raises(ValueError, match="--judge_audio_llm is not set"):
        check_model("--judge_audio_llm", "", "audio_llm")


@pytest.mark.parametrize("model, role, kind", [
    ("text_llm", "asr", "qwen2"),
    ("asr", "text_llm", "whisper"),  # Whisper's decoder is listed among causal LMs, but it is no chat model
    ("text_llm", "audio_llm", "qwen2"),
    ("audio_llm", "audio_classifier", "qwen2_audio"),
    ("audio_llm", "omni", "qwen2_audio"),
])
def test_a_model_of_the_wrong_kind_is_refused_naming_the_role(tiny, model, role, kind):
    with pytest.raises(ValueError) as info:
        check_model("--setting", tiny[model], role)
    message = str(info.value)
    assert message.startswith(f"--setting {tiny[model]!r}: is a {kind!r} checkpoint, but the {role} role needs ")
    assert "pass e.g." in message and "\n" not in message


@pytest.mark.parametrize("stored", ["not json", '{"transformers": "0.0.1", "omni": [], "kinds": {"asr": ["qwen2"]}}'])
def test_the_remembered_model_kinds_are_recomputed_when_damaged_or_from_another_transformers(tiny, stored):
    """The role sets are kept on disk (importing transformers' mappings costs seconds); a damaged file, or one written
    by another transformers version, must never decide a check."""
    import importlib

    from parass2s_hf.io import hash_cache_file

    pf = importlib.import_module("parass2s_hf.models.preflight")  # the module; the package exports its function

    path = os.path.join(os.path.dirname(hash_cache_file()), "model_kinds.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(stored)
    pf._kinds.cache_clear()
    try:
        assert check_model("--asr", tiny["asr"], "asr") == "whisper"
        with pytest.raises(ValueError, match="is a 'qwen2' checkpoint"):
            check_model("--asr", tiny["text_llm"], "asr")
        with open(path) as f:
            assert "whisper" in json.load(f)["kinds"]["asr"]  # written again, for this version
        pf._kinds.cache_clear()
        assert pf._kinds() == pf._kinds_from_transformers()  # and read back as computed
    finally:
        pf._kinds.cache_clear()


def test_an_audio_llm_without_a_feature_extractor_cannot_hear(tiny, tmp_path):
    deaf = tmp_path / "deaf"
    deaf.mkdir()
    shutil.copy(os.path.join(tiny["audio_llm"], "config.json"), deaf / "config.json")
    with pytest.raises(ValueError, match="has no feature extractor .* cannot hear audio: the audio_llm role"):
        check_model("--policy", str(deaf), "audio_llm")
    # an image processor is no feature extractor
    (deaf / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "CLIPImageProcessor",
                                                                "size": 224}))
    with pytest.raises(ValueError, match="has no feature extractor"):
        check_model("--policy", str(deaf), "audio_llm")


def test_an_analyzer_with_other_labels_is_refused(analyzer):
    with pytest.raises(ValueError, match=r"has labels \['female', 'male'\], not the age styles"):
        check_model("--judge_style_analyzers[age]", analyzer, "audio_classifier", labels=["adult", "child"],
                    labels_name="age styles")


def test_hub_ids_are_read_from_the_offline_cache(tiny):
    files = {name: os.path.join(tiny["audio_llm"], name) for name in ("config.json", "processor_config.json")}
    with hub_cache_entry("parass2s-test/tiny-audio-llm", files, missing=["preprocessor_config.json"]) as repo:
        assert check_model("--audio_llm", repo, "audio_llm", offline=True) == "qwen2_audio"
        with pytest.raises(ValueError, match="is a 'qwen2_audio' checkpoint, but the asr role"):
            check_model("--asr", repo, "asr", offline=True)
    # config.json alone: whether it has a feature extractor cannot be told offline; loading would fail the same way
    uncached = r"processor files .* are not in the Hub cache \(offline\): download the whole repository with `hf " \
               r"download parass2s-test/config-only`"
    with hub_cache_entry("parass2s-test/config-only", {"config.json": files["config.json"]}) as repo, \
            pytest.raises(ValueError, match=uncached):
        check_model("--audio_llm", repo, "audio_llm", offline=True)


def test_adapters_are_folders_with_adapter_config_and_are_no_models(tiny, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA",
                                                             "base_model_name_or_path": tiny["audio_llm"]}))
    assert check_model("--judge_reward_adapter", str(adapter), "adapter") == "lora"
    with pytest.raises(ValueError, match="is a PEFT adapter .* not a full model: merge it into its base first"):
        check_model("--model_name_or_path", str(adapter), "audio_llm")
    with pytest.raises(ValueError, match="is a full model, not a PEFT adapter"):
        check_model("--judge_reward_adapter", tiny["audio_llm"], "adapter")
    with pytest.raises(ValueError, match="is a folder without adapter_config.json"):
        check_model("--judge_reward_adapter", str(tmp_path), "adapter")


# ---------------------------------------------------------------------------------------------------- endpoints


def test_an_endpoint_that_is_down_is_named_with_its_url(closed_url, monkeypatch):
    monkeypatch.setenv("PARASS2S_TEST_KEY", "EMPTY")
    error, seconds = timed(check_endpoint, "--judge_rubric_api_base", closed_url, "m", "PARASS2S_TEST_KEY",
                           "rubric_model")
    assert seconds < FAST and isinstance(error, ValueError) and "\n" not in str(error)
    assert str(error).startswith(f"--judge_rubric_api_base {closed_url!r}: the rubric_model endpoint does not answer "
                                 f"(GET {closed_url}/models: ")
    assert str(error).endswith("start the server, or fix the URL.")
    # without the probe only the client and the key are checked
    assert check_endpoint("--judge_rubric_api_base", closed_url, "m", "PARASS2S_TEST_KEY", "rubric_model",
                          probe=False) is None


def test_an_endpoint_that_answers_passes_and_its_model_list_is_checked(monkeypatch):
    monkeypatch.setenv("PARASS2S_TEST_KEY", "sk-test")
    with models_server() as (url, requests):
        assert check_endpoint("--rubric_api_base", url, "served-model", "PARASS2S_TEST_KEY", "rubric_model") == \
            ["served-model"]
        assert requests == [("/v1/models", "Bearer sk-test")]  # one cheap request, with the key
        with pytest.raises(ValueError, match=r"does not serve 'other' \(it serves served-model\): set --rubric_model"):
            check_endpoint("--rubric_api_base", url, "other", "PARASS2S_TEST_KEY", "rubric_model",
                           model_setting="--rubric_model")
    with models_server(status=401) as (url, _):
        with pytest.raises(ValueError, match="refused the key in PARASS2S_TEST_KEY") as info:
            check_endpoint("--rubric_api_base", url, "served-model", "PARASS2S_TEST_KEY", "rubric_model")
        assert "sk-test" not in str(info.value)  # the variable is named, never the key
    monkeypatch.delenv("PARASS2S_TEST_KEY")
    with pytest.raises(ValueError, match="environment variable PARASS2S_TEST_KEY is unset or empty"):
        check_endpoint("--rubric_api_base", "http://127.0.0.1:1/v1", "m", "PARASS2S_TEST_KEY", "rubric_model")


# ---------------------------------------------------------------------------------------------------- preflight


def test_every_wrong_setting_is_reported_at_once(tiny, no_config, closed_url, monkeypatch):
    monkeypatch.setenv("PARASS2S_TEST_KEY", "EMPTY")
    checks = [ModelCheck("--asr", MISSING_HUB_ID, "asr"), ModelCheck("--audio_llm", tiny["audio_llm"], "audio_llm"),
              ModelCheck("--rubric", no_config, "text_llm"), ModelCheck("--tone", tiny["text_llm"], "audio_llm"),
              EndpointCheck("--api_base", closed_url, "m", "PARASS2S_TEST_KEY", "rubric_model")]
    error, seconds = timed(preflight, checks)
    assert seconds < FAST and isinstance(error, PreflightError) and isinstance(error, ValueError)
    lines = str(error).splitlines()
    assert lines[0] == "4 settings are wrong:" and len(lines) == 5 and len(error.problems) == 4
    starts = (f"  - --asr {MISSING_HUB_ID!r}: not a local folder",
              f"  - --rubric {no_config!r}: is a folder without config.json",
              f"  - --tone {tiny['text_llm']!r}: is a 'qwen2' checkpoint, but the audio_llm role",
              f"  - --api_base {closed_url!r}: the rubric_model endpoint does not")
    for line, start in zip(lines[1:], starts):
        assert line.startswith(start), line
    with pytest.raises(PreflightError, match=f"^1 setting is wrong: --asr {MISSING_HUB_ID!r}: "):
        preflight(checks[:2])
    preflight(checks[1:2])  # nothing wrong: nothing raised
    preflight([])


def test_judge_checks_follow_the_models_each_mode_uses(tiny, analyzer, tmp_path):
    def settings(**fields):
        return [(c.setting, c.role) for c in judge_checks(JudgeConfig(**fields))]

    assert settings() == [("--judge_asr_model", "asr"), ("--judge_audio_llm", "audio_llm"),
                          ("--judge_rubric_model", "text_llm")]
    assert settings(style_analyzers={"gender": analyzer}, use_response_tone=False) == [
        ("--judge_asr_model", "asr"), ("--judge_rubric_model", "text_llm"),
        ("--judge_style_analyzers[gender]", "audio_classifier")]
    assert settings(use_response_tone=False, query_labels="predicted")[1] == ("--judge_audio_llm", "audio_llm")
    assert settings(mode="end2end") == [("--judge_audio_llm", "audio_llm")]
    assert settings(mode="reward_model", reward_model="x/y", reward_adapter="a") == [
        ("--judge_reward_model", "audio_llm"), ("--judge_reward_adapter", "adapter")]
    assert settings(mode="reward_model") == [("--judge_audio_llm", "audio_llm")]
    served = judge_checks({"rubric_api_base": "http://h/v1", "rubric_model": "gpt-4.1", "mode": "multistage"},
                          prefix="--judge_config.", names={"asr_model": "--judge_asr_model"})
    assert [c.setting for c in served] == ["--judge_asr_model", "--judge_config.audio_llm", "--judge_config.rubric_api_base"]
    assert isinstance(served[2], EndpointCheck) and served[2].model == "gpt-4.1"
    assert served[2].model_setting == "--judge_config.rubric_model"
    assert [type(c) for c in judge_checks(JudgeConfig(mode="reward_model", reward_api_base="http://h/v1"))] == \
        [EndpointCheck]

    # the checks run: a wrong analyzer label set and a missing rubric model are both named
    cfg = JudgeConfig(asr_model=tiny["asr"], audio_llm=tiny["audio_llm"], rubric_model=MISSING_HUB_ID,
                      style_analyzers={"age": analyzer})
    with pytest.raises(PreflightError) as info:
        preflight(judge_checks(cfg))
    assert str(info.value).splitlines()[0] == "2 settings are wrong:"
    assert "--judge_rubric_model" in str(info.value) and "--judge_style_analyzers[age]" in str(info.value)
    assert "not the age styles" in str(info.value)


# ---------------------------------------------------------------------------------------------------- validate-judge


def test_validate_judge_probes_check_the_judge_before_any_row(tiny, no_config, closed_url, tmp_path, monkeypatch,
                                                              capsys):
    import parass2s_hf.bench
    import parass2s_hf.render
    from parass2s_hf.validation.cli import main

    monkeypatch.setattr(parass2s_hf.bench, "load_parass2sbench", must_not_run)
    monkeypatch.setattr(parass2s_hf.render, "get_renderer", must_not_run)
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")
    out = str(tmp_path / "out")
    start = time.perf_counter()
    status = main(["--probes", "--judge_asr_model", MISSING_HUB_ID, "--judge_audio_llm", no_config,
                   "--judge_rubric_api_base", closed_url, "--judge_rubric_model", "gpt-4.1", "--output", out])
    assert time.perf_counter() - start < FAST and status == 2 and not os.path.exists(out)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "parass2s validate-judge: error: 3 settings are wrong:"
    assert err[1].startswith(f"  - --judge_asr_model {MISSING_HUB_ID!r}: not a local folder, and not in the Hub cache")
    assert err[2].startswith(f"  - --judge_audio_llm {no_config!r}: is a folder without config.json")
    assert err[3].startswith(f"  - --judge_rubric_api_base {closed_url!r}: the rubric_model endpoint does not answer")

    # a model of the wrong kind, alone: one line naming the role
    assert main(["--probes", "--judge_mode", "end2end", "--judge_audio_llm", tiny["text_llm"], "--output", out]) == 2
    assert capsys.readouterr().err == (f"parass2s validate-judge: error: 1 setting is wrong: --judge_audio_llm "
                                       f"{tiny['text_llm']!r}: is a 'qwen2' checkpoint, but the audio_llm role needs a "
                                       f"multimodal LM that hears audio (AutoModelForMultimodalLM with a feature "
                                       f"extractor): pass e.g. Qwen/Qwen2-Audio-7B-Instruct.\n")

    # good checkpoints: the command goes on to the rows
    monkeypatch.setattr(parass2s_hf.render, "get_renderer", reached)
    with pytest.raises(Reached):
        main(["--probes", "--judge_mode", "end2end", "--judge_audio_llm", tiny["audio_llm"], "--output", out])


# ---------------------------------------------------------------------------------------------------- the scripts


@pytest.fixture(scope="module")
def polytone_script():
    return load_example("train_polytone.py")


@pytest.fixture(scope="module")
def reward_script():
    return load_example("train_reward_model.py")


@pytest.fixture(scope="module")
def sft_script():
    return load_example("train_sft.py")


@pytest.fixture(scope="module")
def grpo_script():
    return load_example("train_grpo.py")


class Spy:
    """Wraps a script's `preflight` to record the settings it checked."""

    def __init__(self, script, monkeypatch):
        self.settings, self._preflight = [], script.preflight
        monkeypatch.setattr(script, "preflight", self)

    def __call__(self, checks):
        checks = list(checks)
        self.settings.append([c.setting for c in checks])
        return self._preflight(checks)


def fails_fast(main, *args, **kwargs) -> str:
    """The `PreflightError` message of `main(*args, **kwargs)`, which must come within `FAST` seconds."""
    error, seconds = timed(main, *args, **kwargs)
    assert isinstance(error, PreflightError), repr(error)
    assert seconds < FAST, seconds
    return str(error)


def test_train_polytone_checks_the_base_model_before_rendering(polytone_script, tiny, analyzer, no_config, tmp_path,
                                                               monkeypatch):
    script = polytone_script
    monkeypatch.setattr(script, "load_data", must_not_run)
    monkeypatch.setattr(script, "render_polytone", must_not_run)
    monkeypatch.setattr(script, "train_analyzer", must_not_run)

    def run(model):
        return script.parse_args(["--config", os.path.join(CONFIGS, "polytone_cpu_smoke.yaml"),
                                  "--model_name_or_path", model, "--output_dir", str(tmp_path / "out")])

    for model, problem in ((MISSING_HUB_ID, "not a local folder, and not in the Hub cache (offline)"),
                           (no_config, "is a folder without config.json"),
                           (tiny["text_llm"], "is a 'qwen2' checkpoint, but the audio_classifier role needs")):
        message = fails_fast(script.main, *run(model))
        assert message.startswith(f"1 setting is wrong: --model_name_or_path {model!r}: {problem}"), message
    spy = Spy(script, monkeypatch)
    monkeypatch.setattr(script, "load_data", reached)
    with pytest.raises(Reached):
        script.main(*run(analyzer))
    assert spy.settings == [["--model_name_or_path"]]


def test_train_reward_model_checks_its_base_and_the_teacher_judge_before_scoring(reward_script, tiny, no_config,
                                                                                tmp_path, monkeypatch):
    script = reward_script
    for name in ("load_parass2sbench", "rendered_candidates", "score_pairs_with_judge", "train_reward_model",
                 "teacher_pairs"):
        monkeypatch.setattr(script, name, must_not_run)
    yaml = os.path.join(CONFIGS, "reward_model_cpu_smoke.yaml")

    def run(*extra):
        return script.build_parser().parse_args_and_config(["--config", yaml, "--output_dir", str(tmp_path / "rm"),
                                                             *extra])

    message = fails_fast(script.main, *run("--model_name_or_path", MISSING_HUB_ID, "--judge_audio_llm", no_config))
    lines = message.splitlines()
    assert lines[0] == "2 settings are wrong:"
    assert lines[1].startswith(f"  - --model_name_or_path {MISSING_HUB_ID!r}: not a local folder")
    assert lines[2].startswith(f"  - --judge_audio_llm {no_config!r}: is a folder without config.json")
    message = fails_fast(script.main, *run("--model_name_or_path", tiny["audio_llm"], "--judge_mode", "multistage",
                                           "--judge_audio_llm", tiny["audio_llm"], "--judge_asr_model",
                                           tiny["text_llm"], "--judge_rubric_model", tiny["text_llm"]))
    assert message.startswith(f"1 setting is wrong: --judge_asr_model {tiny['text_llm']!r}: is a 'qwen2' checkpoint, "
                              f"but the asr role needs")
    spy = Spy(script, monkeypatch)
    monkeypatch.setattr(script, "teacher_pairs", reached)
    with pytest.raises(Reached):
        script.main(*run("--model_name_or_path", tiny["audio_llm"], "--judge_audio_llm", tiny["audio_llm"]))
    assert spy.settings == [["--model_name_or_path", "--judge_audio_llm"]]


def test_train_sft_checks_the_policy_before_the_demonstrations(sft_script, tiny, no_config, tmp_path, monkeypatch):
    script = sft_script
    monkeypatch.setattr(script, "load_demonstrations", must_not_run)
    monkeypatch.setattr(script, "load_policy", must_not_run)

    def run(model):
        return script.build_parser().parse_args_and_config(
            ["--config", os.path.join(CONFIGS, "sft_cpu_smoke.yaml"), "--model_name_or_path", model, "--output_dir",
             str(tmp_path / "sft")])

    for model, problem in ((MISSING_HUB_ID, "not a local folder, and not in the Hub cache (offline)"),
                           (no_config, "is a folder without config.json"),
                           (tiny["asr"], "is a 'whisper' checkpoint, but the audio_llm role needs")):
        message = fails_fast(script.main, *run(model))
        assert message.startswith(f"1 setting is wrong: --model_name_or_path {model!r}: {problem}"), message
    spy = Spy(script, monkeypatch)
    monkeypatch.setattr(script, "load_demonstrations", reached)
    with pytest.raises(Reached):
        script.main(*run(tiny["audio_llm"]))
    assert spy.settings == [["--model_name_or_path"]]


def test_train_grpo_checks_the_policy_and_the_reward_judge_before_the_prompts(grpo_script, tiny, no_config, tmp_path,
                                                                              closed_url, monkeypatch):
    script = grpo_script
    monkeypatch.setattr(script, "load_parass2sbench", must_not_run)
    monkeypatch.setattr(script, "ParaS2SGRPOTrainer", must_not_run)

    def run(model, judge_config):
        return script.build_parser().parse_args_and_config(
            ["--config", os.path.join(CONFIGS, "grpo_cpu_smoke.yaml"), "--model_name_or_path", model,
             "--output_dir", str(tmp_path / "run"), "--judge_config", json.dumps(judge_config)])

    message = fails_fast(script.main, *run(no_config, {"mode": "reward_model", "audio_llm": MISSING_HUB_ID}))
    lines = message.splitlines()
    assert lines[0] == "2 settings are wrong:"
    assert lines[1].startswith(f"  - --model_name_or_path {no_config!r}: is a folder without config.json")
    assert lines[2].startswith(f"  - --judge_config.audio_llm {MISSING_HUB_ID!r}: not a local folder, and not in the "
                               f"Hub cache (offline): download it first with `hf download {MISSING_HUB_ID}`")
    message = fails_fast(script.main, *run(tiny["text_llm"], {"mode": "reward_model", "audio_llm": tiny["audio_llm"]}))
    assert message.startswith(f"1 setting is wrong: --model_name_or_path {tiny['text_llm']!r}: is a 'qwen2' "
                              f"checkpoint, but the audio_llm role needs")
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")
    message = fails_fast(script.main, *run(tiny["audio_llm"], {"mode": "reward_model", "reward_api_base": closed_url}))
    assert message.startswith(f"1 setting is wrong: --judge_config.reward_api_base {closed_url!r}: the reward_model "
                              f"endpoint does not answer")
    spy = Spy(script, monkeypatch)
    monkeypatch.setattr(script, "load_parass2sbench", reached)
    with pytest.raises(Reached):
        script.main(*run(tiny["audio_llm"], {"mode": "reward_model", "audio_llm": tiny["audio_llm"]}))
    assert spy.settings == [["--model_name_or_path", "--judge_config.audio_llm"]]


# each script's subprocess is `slow` (7-8 s of imports; their preflights are tested in-process above): .ci/run runs them.
@pytest.mark.parametrize("filename, config", [pytest.param("train_sft.py", "sft_cpu_smoke.yaml", marks=pytest.mark.slow),
                                              pytest.param("train_polytone.py", "polytone_cpu_smoke.yaml",
                                                           marks=pytest.mark.slow)])
def test_a_script_prints_the_problem_as_one_line_and_exits_non_zero(tmp_path, filename, config):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": os.path.join(REPO, "src")}
    done = subprocess.run([sys.executable, os.path.join(REPO, "examples", filename), "--config",
                           os.path.join(CONFIGS, config), "--model_name_or_path", MISSING_HUB_ID, "--output_dir",
                           str(tmp_path / "out")], check=False, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        f"{filename}: error: 1 setting is wrong: --model_name_or_path {MISSING_HUB_ID!r}: not a local folder, and not "
        f"in the Hub cache (offline): download it first with `hf download {MISSING_HUB_ID}`, or pass a local folder.")
    assert "Traceback" not in done.stderr and not os.path.exists(tmp_path / "out")


def _build(argv, capsys):
    from parass2s_hf import cli

    started = time.perf_counter()
    code = cli.main(["build", *argv])
    return code, capsys.readouterr().err, time.perf_counter() - started


def test_build_verify_checks_its_asr_and_analyzers_before_reading_a_clip(tiny, analyzer, no_config, tmp_path, capsys):
    work = tmp_path / "work"  # not even a work folder: the checks come first
    code, err, seconds = _build(["verify", "--in", str(work), "--asr", tiny["text_llm"], "--analyzer",
                                 f"gender={analyzer}", f"emotion={analyzer}", "age=" + no_config], capsys)
    assert code == 2 and seconds < FAST, (code, seconds)
    assert err.startswith("parass2s build: error: 3 settings are wrong:"), err
    assert f"--asr {tiny['text_llm']!r}: is a 'qwen2' checkpoint, but the asr role needs" in err
    assert f"--analyzer emotion {analyzer!r}: has labels ['female', 'male'], not the emotion styles" in err
    assert f"--analyzer age {no_config!r}" in err
    assert "gender" not in err.split("--analyzer emotion")[0]  # the fitting analyzer passes
    assert not work.exists()


def test_build_generate_and_render_check_their_models_and_endpoints_first(tiny, closed_url, tmp_path, monkeypatch,
                                                                          capsys):
    monkeypatch.setenv("PARASS2S_BUILD_KEY", "x")
    code, err, seconds = _build(["generate", "--llm", MISSING_HUB_ID, "--dimension", "emotion", "--n", "2",
                                 "--out", str(tmp_path / "a")], capsys)
    assert code == 2 and seconds < FAST and f"--llm {MISSING_HUB_ID!r}: not a local folder, and not in the Hub cache" \
        in err, err
    code, err, _ = _build(["filter", "--llm", "m", "--llm_api_base", closed_url, "--llm_api_key_env",
                           "PARASS2S_BUILD_KEY", "--in", str(tmp_path / "b")], capsys)
    assert code == 2 and f"--llm_api_base {closed_url!r}: the LLM endpoint does not answer" in err, err
    code, err, _ = _build(["render", "--tts", tiny["asr"], "--in", str(tmp_path / "c")], capsys)
    assert code == 2 and "--tts" in err and "is a 'whisper' checkpoint, but the tts role needs" in err, err
    assert not any((tmp_path / name).exists() for name in "abc")


def test_build_all_checks_every_stage_of_the_recipe_before_the_first(tiny, tmp_path, capsys):
    import yaml

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "work_dir": str(tmp_path / "work"), "llm": {"model": tiny["text_llm"]},
        "generate": {"dimension": "emotion", "n": 2}, "filter": {}, "render": {},
        "verify": {"asr": MISSING_HUB_ID}, "export": {"out": str(tmp_path / "out")}}))
    code, err, seconds = _build(["all", "--recipe", str(recipe)], capsys)
    assert code == 2 and seconds < FAST, (code, seconds, err)
    assert f"verify.asr {MISSING_HUB_ID!r}" in err and "llm.model" not in err, err
    assert not (tmp_path / "work").exists()  # generate never ran


def test_the_grpo_trainer_checks_its_policy_and_judge_before_reading_a_prompt(tiny, no_config):
    """The README's Python snippet: `ParaS2SGRPOTrainer(model=<not there>, ...)` stops in one message naming the policy
    and the judge's model, before any prompt row is read or any model loaded."""
    from parass2s_hf.align import ParaS2SGRPOConfig, ParaS2SGRPOTrainer

    class Untouchable:
        column_names = ("prompt", "audio")

        def __getattr__(self, name):
            raise AssertionError("a prompt row was read before the checks")

    args = ParaS2SGRPOConfig(output_dir="unused", use_cpu=True, bf16=False,
                             judge_config={"mode": "reward_model", "audio_llm": MISSING_HUB_ID})
    started = time.perf_counter()
    with pytest.raises(PreflightError) as caught:
        ParaS2SGRPOTrainer(model=no_config, args=args, train_dataset=Untouchable())
    message = str(caught.value)
    assert time.perf_counter() - started < FAST and message.startswith("2 settings are wrong:"), message
    assert f"model {no_config!r}" in message and f"judge_config.audio_llm {MISSING_HUB_ID!r}" in message
