"""One Settings for the backend: defaults, then PROMPTFACE_* variables, then the flags given."""
from pathlib import Path

import pytest

from addon.core.errors import PromptFaceError
from backend.cli import _parser
from backend.cli_commands import settings_from
from backend.settings import Settings


def test_variables_override_defaults_and_flags_override_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTFACE_QUEUE_DEPTH", "3")
    monkeypatch.setenv("PROMPTFACE_DATA", str(tmp_path / "old-name"))   # the variable's earlier name still works
    monkeypatch.setenv("PROMPTFACE_DECA_FOLDER", str(tmp_path / "deca"))
    settings = settings_from(_parser().parse_args(["serve", "--max-upload-mb", "5", "--allowed-host", "pf.lan"]))
    assert settings.queue_depth == 3 and settings.data_dir == tmp_path / "old-name"
    assert settings.deca_folder == tmp_path / "deca"
    assert settings.max_upload_bytes == 5_000_000 and settings.allowed_hosts == ("pf.lan",)
    flagged = settings_from(_parser().parse_args(["serve", "--queue-depth", "9", "--data-dir", str(tmp_path)]))
    assert flagged.queue_depth == 9 and flagged.data_dir == tmp_path
    assert Settings().max_prompts == 16 and flagged.max_prompts == 16  # one default


def test_a_bad_value_names_its_flag_and_variable(monkeypatch):
    with pytest.raises(PromptFaceError, match=r"--max-disk-gb \(or PROMPTFACE_MAX_DISK_BYTES\)"):
        settings_from(_parser().parse_args(["serve", "--max-disk-gb", "-1"]))
    monkeypatch.setenv("PROMPTFACE_PORT", "99999")
    with pytest.raises(PromptFaceError, match=r"--port \(or PROMPTFACE_PORT\): input should be less"):
        settings_from(_parser().parse_args(["serve"]))


def test_the_data_dir_defaults_under_the_home_folder(monkeypatch):
    for name in ("PROMPTFACE_DATA", "PROMPTFACE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().data_dir == Path.home() / ".local" / "share" / "promptface"
