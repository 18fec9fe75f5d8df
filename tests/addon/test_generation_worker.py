"""The worker's mirror of a job's expression set only ever writes plain file names into its folder."""
import pytest

from addon.generation.worker import files_to_download


def manifest(*expression_files):
    return {"topology": {"base_mesh": "base.obj"}, "base_texture": "base_texture.png",
            "subject": {"photo": "subject.png"},
            "expressions": [{"name": f"e{i}", "files": files} for i, files in enumerate(expression_files)]}


def test_base_files_come_first_and_the_manifest_is_not_listed():
    names = files_to_download(manifest({"vertices": "neutral.vertices.npy"}, {"vertices": "happy.vertices.npy"}))
    assert names[:3] == ["base.obj", "base.mtl", "base_texture.png"]
    assert names[-2:] == ["neutral.vertices.npy", "happy.vertices.npy"] and "manifest.json" not in names


@pytest.mark.parametrize("bad", ["..", ".hidden", "a b.png", "C:evil.png"])
def test_names_that_are_not_plain_file_names_are_refused(bad):
    with pytest.raises(ValueError, match="not plain file names"):
        files_to_download(manifest({"texture": bad}))
