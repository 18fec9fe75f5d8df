"""Zipping an expression set (addon/core/expression_set/archive.py): the zip reads back as the folder did."""
import zipfile

import numpy as np
import pytest

from addon.core.errors import ExpressionSetError
from addon.core.expression_set import read_expression_set, zip_expression_set
from expression_set_samples import write_sample_set


@pytest.fixture
def written_set(tmp_path):
    return write_sample_set(tmp_path)


def test_zip_round_trip(written_set, tmp_path):
    zip_path = zip_expression_set(written_set, tmp_path / "out" / "alice.zip")
    assert zip_path == tmp_path / "out" / "alice.zip"
    assert [path.name for path in zip_path.parent.iterdir()] == ["alice.zip"]
    with zipfile.ZipFile(zip_path) as archive:
        assert "manifest.json" in archive.namelist()

    from_folder = read_expression_set(written_set)
    from_zip = read_expression_set(zip_path)
    assert from_zip.names() == from_folder.names()
    assert from_zip.manifest == from_folder.manifest
    for a, b in zip(from_folder.expressions, from_zip.expressions, strict=True):
        assert np.array_equal(a.vertices, b.vertices)
        assert a.texture_path.read_bytes() == b.texture_path.read_bytes()
        assert b.texture_path.is_relative_to(from_zip.root)
    extracted = from_zip.root
    assert extracted.is_dir() and not extracted.is_relative_to(tmp_path)
    from_zip.close()
    assert not extracted.exists()


def test_zip_refuses_a_folder_that_is_not_a_set(tmp_path):
    (tmp_path / "junk").mkdir()
    with pytest.raises(ExpressionSetError, match="manifest.json is missing"):
        zip_expression_set(tmp_path / "junk", tmp_path / "junk.zip")
    assert not (tmp_path / "junk.zip").exists()
