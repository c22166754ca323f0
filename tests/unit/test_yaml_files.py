"""The configuration file and content model files are read one way (`plastrond.yamlfile`):
the same one-line errors, naming the file (and the line), each with its own error class."""

from __future__ import annotations

import pytest

from plastrond.config import ConfigError, load_config
from plastrond.models import ModelError, load_models

CASES = [
    (b"\xff\xfeREPOSITORY: {}\n", "not UTF-8 text (invalid start byte at byte 0)"),
    (b"A: 1\nB: [\n", "YAML syntax error"),
    (b"A: 1\n\tB: 2\n", ":2: YAML syntax error"),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_a_bad_file_is_one_line_naming_it_for_config_and_models(tmp_path, data, expected):
    config = tmp_path / "plastrond.yml"
    config.write_bytes(data)
    with pytest.raises(ConfigError) as from_config:
        load_config(config, environ={})
    models = tmp_path / "models"
    models.mkdir()
    (models / "local.yml").write_bytes(data)
    with pytest.raises(ModelError) as from_models:
        load_models(models)
    for error, path in ((from_config, config), (from_models, models / "local.yml")):
        message = str(error.value)
        assert message.startswith(str(path)) and expected in message, message
        assert "\n" not in message


def test_missing_files_and_folders_say_which_kind_of_file(tmp_path):
    with pytest.raises(ConfigError, match=r"plastrond\.yml: configuration file not found$"):
        load_config(tmp_path / "plastrond.yml", environ={})
    with pytest.raises(ConfigError, match=r": is a folder, not a configuration file$"):
        load_config(tmp_path, environ={})
