import json

import pytest

from rvc.core.config import config_path, load_model_config
from rvc.core.errors import ExperimentConflictError, ExperimentNotFoundError, InvalidNameError
from rvc.core.experiment import ExperimentConfig, create_or_open, list_experiments, open_experiment, validate_name


@pytest.mark.parametrize("name", ["a", "my-voice", "Voice_2.final", "x" * 64, "..a", "ab.c-d_e"])
def test_valid_names(name, tmp_path):
    assert validate_name(name, tmp_path) == name


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 65, "65 characters"),
        ("a/b", "path separator"),
        ("..\\x", "path separator"),
        ("../etc", "path separator"),
        (".", "only dots"),
        ("..", "only dots"),
        ("...", "only dots"),
        ("my voice", "' '"),
        ("voz-ção", "'ç'"),
        ("a:b", "':'"),
        ("name\n", "'\\n'"),
        ("mute", "reserved"),
        ("CON", "reserved"),
        ("nul.txt", "reserved"),
    ],
)
def test_invalid_names(name, message, tmp_path):
    with pytest.raises(InvalidNameError) as e:
        validate_name(name, tmp_path)
    assert message in str(e.value)


def test_name_resolving_outside_logs_dir_is_refused(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "escape").symlink_to(tmp_path)  # a folder in logs/ that resolves elsewhere
    with pytest.raises(InvalidNameError, match="outside the logs folder"):
        validate_name("escape", logs)


def test_create_writes_reference_config_and_choices(tmp_path):
    exp, created = create_or_open(ExperimentConfig("v", "48k", "v2", use_f0=False), tmp_path)
    assert created
    data = json.loads((tmp_path / "v" / "config.json").read_text())
    assert data["data"]["sampling_rate"] == 48000
    assert data["model"]["upsample_rates"] == [12, 10, 2, 2]
    assert data["train"]["segment_size"] == 17280
    assert data["experiment"]["sample_rate"] == "48k"
    assert data["experiment"]["version"] == "v2"
    assert data["experiment"]["use_f0"] is False
    assert exp.config.feature_dim == 768


def test_v2_40k_resolves_to_v1_40k_config():
    assert config_path("40k", "v2").parts[-2:] == ("v1", "40k.json")
    assert config_path("48k", "v2").parts[-2:] == ("v2", "48k.json")
    assert load_model_config("40k", "v2")["model"]["upsample_rates"] == [10, 10, 2, 2]


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("sr, hz", [("32k", 32000), ("40k", 40000), ("48k", 48000)])
def test_every_config_is_consistent(version, sr, hz):
    cfg = load_model_config(sr, version)
    hop = cfg["data"]["hop_length"]
    rates = cfg["model"]["upsample_rates"]
    assert cfg["data"]["sampling_rate"] == hz
    assert eval("*".join(map(str, rates))) == hop  # the decoder upsamples frames to samples
    assert cfg["train"]["segment_size"] % hop == 0


def test_reopen_same_choices_and_conflict_message(tmp_path):
    create_or_open(ExperimentConfig("v", "40k", "v2", True), tmp_path)
    exp, created = create_or_open(ExperimentConfig("v", "40k", "v2", True), tmp_path)
    assert not created and exp.config.sample_rate == "40k"
    with pytest.raises(ExperimentConflictError) as e:
        create_or_open(ExperimentConfig("v", "32k", "v1", False), tmp_path)
    msg = str(e.value)
    assert "sample rate is 40k (you chose 32k)" in msg
    assert "version is v2 (you chose v1)" in msg
    assert "pitch guidance is on (you chose off)" in msg


def test_open_and_list(tmp_path):
    with pytest.raises(ExperimentNotFoundError, match="create it first"):
        open_experiment("nope", tmp_path)
    create_or_open(ExperimentConfig("b"), tmp_path)
    create_or_open(ExperimentConfig("a", "32k"), tmp_path)
    (tmp_path / "not-an-experiment").mkdir()
    assert list_experiments(tmp_path) == ["a", "b"]
    assert open_experiment("a", tmp_path).config.sample_rate == "32k"


def test_adopts_a_webui_experiment_folder(tmp_path):
    # RVC WebUI writes logs/<exp>/config.json without our section: it is adopted when the rate agrees.
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(load_model_config("40k", "v1")))
    with pytest.raises(ExperimentConflictError, match="40000 Hz"):
        create_or_open(ExperimentConfig("old", "48k", "v1"), tmp_path)
    exp, created = create_or_open(ExperimentConfig("old", "40k", "v1", True), tmp_path)
    assert not created and open_experiment("old", tmp_path).config.version == "v1"
