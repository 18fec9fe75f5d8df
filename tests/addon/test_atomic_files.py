"""Atomic files and folders: the destination is whole or absent, never half written."""
import os

import pytest

from addon.core.atomic_files import move_folder_into_place, staged_file, write_bytes_atomically


def test_a_staged_file_appears_whole_and_a_failed_one_leaves_nothing(tmp_path):
    target = tmp_path / "set.zip"
    with staged_file(target) as staging:
        staging.write_bytes(b"first")
        assert not target.exists() and staging.name.startswith(".set.zip.partial-")
    assert target.read_bytes() == b"first"
    with pytest.raises(RuntimeError):
        with staged_file(target) as staging:
            staging.write_bytes(b"half")
            raise RuntimeError("the disk filled up")
    assert target.read_bytes() == b"first" and sorted(os.listdir(tmp_path)) == ["set.zip"]


def test_bytes_are_written_with_the_mode_asked(tmp_path):
    path = write_bytes_atomically(tmp_path / "photo", b"\xff\xd8", mode=0o600)
    assert path.read_bytes() == b"\xff\xd8" and (path.stat().st_mode & 0o777) == 0o600


def test_a_folder_replaces_the_old_one_in_one_rename(tmp_path):
    old, new = tmp_path / "out", tmp_path / ".staging"
    old.mkdir()
    (old / "a").write_text("old")
    new.mkdir()
    (new / "b").write_text("new")
    move_folder_into_place(new, old)
    assert sorted(os.listdir(old)) == ["b"] and sorted(os.listdir(tmp_path)) == ["out"]
