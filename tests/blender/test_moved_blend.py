"""A face.blend from `promptface animate` keeps working when it is moved the way the README says: together with its
textures/ folder (the default: its images are //textures/...), or alone with --pack-textures. The rest of the
output, the expression set included, is deleted first."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest


def promptface(*args, cwd):
    return subprocess.run([sys.executable, "-m", "addon.cli", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd)


def file_images() -> dict[str, bpy.types.Image]:
    """The open file's images that come from files (named as their files: base_texture.png, happy.mask.png …)."""
    return {image.name: image for image in bpy.data.images if image.source == "FILE"}


def magenta_fraction(png: Path) -> float:
    """The part of an image that is Blender's missing-texture magenta."""
    image = bpy.data.images.load(str(png))
    pixels = np.empty(image.size[0] * image.size[1] * 4, np.float32)
    image.pixels.foreach_get(pixels)
    bpy.data.images.remove(image)
    rgb = pixels.reshape(-1, 4)[:, :3]
    return float(((rgb[:, 0] > 0.9) & (rgb[:, 1] < 0.1) & (rgb[:, 2] > 0.9)).mean())


@pytest.fixture(scope="module", params=["relative", "packed"])
def moved(request, tmp_path_factory):
    """(kind, folder holding only what was moved): face.blend + textures/, or a packed face.blend alone."""
    work = tmp_path_factory.mktemp(f"moved_{request.param}")
    packing = ["--pack-textures"] if request.param == "packed" else []
    made = promptface("animate", "--sample", "astronaut", "happy", "--no-preview", *packing, "--out", "shot",
                      cwd=work)
    assert made.returncode == 0, made.stderr[-3000:]
    if request.param == "relative":
        assert f"textures        {work / 'shot' / 'textures'}" in made.stdout  # animate says textures/ belongs to it
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    shutil.move(work / "shot" / "face.blend", elsewhere / "face.blend")
    if request.param == "relative":
        shutil.move(work / "shot" / "textures", elsewhere / "textures")
    shutil.rmtree(work / "shot")
    return request.param, elsewhere


def test_every_image_of_the_moved_blend_resolves(moved):
    kind, folder = moved
    bpy.ops.wm.open_mainfile(filepath=str(folder / "face.blend"))
    images = file_images()
    assert sorted(images) == ["as_photographed.mask.png", "as_photographed.texture.png", "base_texture.png",
                              "happy.mask.png", "happy.texture.png"]
    for file_name, image in images.items():
        if kind == "relative":
            assert image.filepath == f"//textures/{file_name}" and image.packed_file is None
            assert Path(bpy.path.abspath(image.filepath)).is_file()
        else:
            assert image.packed_file is not None
        assert tuple(image.size) == (512, 512) and image.has_data, file_name
        if not file_name.endswith(".mask.png"):
            pixels = np.empty(512 * 512 * 4, np.float32)
            image.pixels.foreach_get(pixels)
            assert pixels.reshape(-1, 4)[:, :3].std() > 0.05, file_name  # the face's picture, not a placeholder


def test_the_moved_blend_renders_without_magenta(moved, tmp_path):
    _, folder = moved
    result = promptface("render", str(folder / "face.blend"), "--frames", "31-31", "--size", "48", "--samples",
                        "1", "--out", str(tmp_path / "frames"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert magenta_fraction(tmp_path / "frames" / "frame_0031.png") == 0.0


def test_export_unity_works_from_the_moved_blend(moved, tmp_path):
    kind, folder = moved
    result = promptface("export-unity", str(folder / "face.blend"), "--out", "unity", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "unity"
    sidecar = json.loads((out / "face.promptface.json").read_text())
    assert [entry["blendshape"] for entry in sidecar["expressions"]] == ["as_photographed", "happy"]
    assert sidecar["expressions"][1]["prompt"] == "happy"
    bpy.ops.wm.open_mainfile(filepath=str(folder / "face.blend"))
    for file_name, image in file_images().items():
        written = (out / "textures" / file_name).read_bytes()
        if kind == "relative":
            assert written == (folder / "textures" / file_name).read_bytes()
        else:
            assert written == bytes(image.packed_file.data)
        assert written[:8] == b"\x89PNG\r\n\x1a\n"


def test_face_blend_alone_exports_only_when_packed(moved, tmp_path):
    kind, folder = moved
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(folder / "face.blend", alone / "face.blend")
    result = promptface("export-unity", str(alone / "face.blend"), "--out", "unity", cwd=tmp_path)
    if kind == "packed":
        assert result.returncode == 0, result.stderr[-3000:]
    else:
        assert result.returncode == 2, result.stderr[-3000:]
        assert "neither packed nor found" in result.stderr and "together with its textures/ folder" in result.stderr
        assert not (tmp_path / "unity" / "face.fbx").exists()
