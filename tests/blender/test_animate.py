"""`promptface animate` and `promptface render` end to end, as a user runs them (real subprocesses: the CLI
runs the real CPU backend as its own child process, `promptface-backend serve --stdio` spoken to in JSON lines, then
Blender as a module)."""
import os
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest

from addon.core.expression_set import read_expression_set
from addon.scene.face_object import expression_keys
from addon.scene.timeline import sample_weights

PREVIEW = ["--preview-size", "48", "--preview-samples", "2", "--preview-fps", "10"]
SCHEDULE = "neutral 0.5s, happy 0.5s, 70% happy + 30% surprised 0.5s, neutral"


def promptface(*args, cwd=None):
    environment = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "addon.cli", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env=environment)


def read_png(path: Path) -> np.ndarray:
    image = bpy.data.images.load(str(path))
    width, height = image.size
    pixels = np.empty(width * height * 4, np.float32)
    image.pixels.foreach_get(pixels)
    bpy.data.images.remove(image)
    return pixels.reshape(height, width, 4)[..., :3]


@pytest.fixture(scope="module")
def animated(tmp_path_factory):
    work = tmp_path_factory.mktemp("animate")
    out = work / "shot"
    result = promptface("animate", "--sample", "astronaut", "happy", "--schedule", SCHEDULE, "--out", "shot",
                        *PREVIEW, cwd=work)  # a relative --out, as users type it
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_animate_writes_every_file(animated):
    out, result = animated
    for name in ("face.blend", "face.fbx", "contact_sheet.png", "preview.mp4", "expressions/manifest.json",
                 "textures/base_texture.png", "textures/happy.texture.png", "textures/surprised.mask.png"):
        assert (out / name).is_file(), name
    assert (out / "preview.mp4").read_bytes()[4:8] == b"ftyp"  # an MP4 container
    assert "[100%] done" in result.stderr
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no partial folders left


def test_the_schedule_asks_for_expressions_that_were_not_prompted(animated):
    out, _ = animated
    assert read_expression_set(out / "expressions").names() == ["neutral", "as_photographed", "happy", "surprised"]


def test_the_saved_scene_holds_the_face_on_the_timeline(animated, tmp_path):
    out, _ = animated
    bpy.ops.wm.open_mainfile(filepath=str(out / "face.blend"))
    face = next(o for o in bpy.data.objects if o.type == "MESH")
    assert [k.name for k in expression_keys(face)] == ["as_photographed", "happy", "surprised"]
    scene = bpy.context.scene
    assert (scene.render.fps, scene.frame_start) == (30, 1)
    # 0.5 s neutral, 0.3 s to happy, 0.5 s hold, 0.3 s to the mixture, 0.5 s hold, 0.3 s to neutral.
    assert scene.frame_end == 1 + round(2.4 * 30)
    # The photo as taken (her smile) is a shape key of its own, at 0 unless a schedule names it.
    assert sample_weights(face, 1) == {"as_photographed": 0.0, "happy": 0.0, "surprised": 0.0}
    assert sample_weights(face, 1 + 30) == pytest.approx({"as_photographed": 0.0, "happy": 1.0, "surprised": 0.0})
    assert sample_weights(face, 1 + 51) == pytest.approx({"as_photographed": 0.0, "happy": 0.7, "surprised": 0.3})
    for image in bpy.data.images:
        if image.source == "FILE":
            assert Path(bpy.path.abspath(image.filepath)).is_file(), image.filepath  # relative paths resolve


def test_preview_frames_differ_where_the_expression_changes(animated):
    out, _ = animated
    frames = sorted((out / "preview").glob("frame_*.png"))
    assert frames[0].name == "frame_0001.png" and frames[-1].name == "frame_0073.png"
    neutral_a, neutral_b = read_png(out / "preview" / "frame_0001.png"), read_png(out / "preview" / "frame_0013.png")
    happy = read_png(out / "preview" / "frame_0031.png")
    assert np.abs(neutral_a - neutral_b).mean() < 0.25 * np.abs(neutral_a - happy).mean()
    assert np.abs(neutral_a - happy).max() > 0.1
    sheet = read_png(out / "contact_sheet.png")
    assert sheet.shape[:2] == (48, 4 * 48)  # neutral, as photographed, happy, surprised
    magenta = (sheet[..., 0] > 0.9) & (sheet[..., 1] < 0.1) & (sheet[..., 2] > 0.9)
    assert magenta.sum() == 0  # Blender paints missing textures magenta
    skin = sheet[20:28, 20:28].mean(axis=(0, 1))
    assert skin[0] > skin[2]  # the astronaut's skin texture, warmer than blue


def test_bad_input_exits_2_and_leaves_nothing(tmp_path):
    cases = [
        (["animate", "--sample", "astronaut", "   ", "--out", "shot"], "empty prompt"),
        (["animate", "--sample", "astronaut", "happy", "--schedule", "happy 1", "--out", "shot"], "1s"),
        (["animate", "--sample", "astronaut", "happy", "--fps", "0", "--out", "shot"], "positive"),
        (["animate", "--sample", "astronaut", "happy", "--editor", "paint", "--out", "shot"],
         "unknown editor 'paint'; choose one of: warp, diffedit"),
        (["animate", "--sample", "nobody", "happy", "--out", "shot"], "unknown sample 'nobody'"),
        (["animate", "nobody.jpg", "happy", "--out", "shot"], "does not exist"),
        (["render", "missing.blend", "--out", "frames"], "does not exist"),
    ]
    for args, message in cases:
        result = promptface(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert message in result.stderr, (args, result.stderr[-2000:])
    assert list(tmp_path.iterdir()) == []


def test_a_backend_refusal_reaches_the_user_and_leaves_nothing(tmp_path):
    photo = tmp_path / "coffee.png"
    from skimage import data  # a photo with no face in it
    from backend.subject.photo_io import encode_png_bytes
    photo.write_bytes(encode_png_bytes(data.coffee()))
    result = promptface("animate", str(photo), "happy", "--out", str(tmp_path / "shot"), *PREVIEW)
    assert result.returncode == 2 and "no face found" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coffee.png"]


def test_keep_photo_expression_reaches_the_backend(tmp_path):
    result = promptface("animate", "--sample", "astronaut", "happy", "--keep-photo-expression", "--no-preview",
                        "--out", "shot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    expression_set = read_expression_set(tmp_path / "shot" / "expressions")
    assert expression_set.names() == ["neutral", "happy"]  # her smile stays in the neutral: no as_photographed
    assert expression_set.manifest["subject"]["photo_expression"]["removed_from_neutral"] is False
    engines = expression_set.manifest["engines"]
    assert (engines["editor"]["name"], engines["reconstructor"]["name"]) == ("warp", "landmarks")


def test_missing_weights_are_named_and_leave_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMPTFACE_DECA_FOLDER", raising=False)
    result = promptface("animate", "--sample", "astronaut", "happy", "--reconstructor", "deca", "--out", "shot",
                        cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "error: the deca reconstructor is not loaded here" in result.stderr
    assert "PROMPTFACE_DECA_FOLDER" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_render_command_renders_the_requested_frames(animated, tmp_path):
    out, _ = animated
    result = promptface("render", str(out / "face.blend"), "--frames", "30-31", "--size", "32", "--samples", "1",
                        "--out", str(tmp_path / "frames"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["frame_0030.png", "frame_0031.png"]
    assert read_png(tmp_path / "frames" / "frame_0030.png").shape == (32, 32, 3)
    refused = promptface("render", str(out / "face.blend"), "--frames", "500-501", "--out", str(tmp_path / "x"))
    assert refused.returncode == 2 and "outside the scene's frames" in refused.stderr


def test_the_farm_script_renders_with_nothing_but_bpy(animated, tmp_path):
    """What `blender -b face.blend -P render_frames.py -- --out DIR` does. No Blender binary of version ≥ 4.2
    exists on this machine (Debian ships 3.4), so Blender-as-a-module plays the binary: it opens the file, sets
    sys.argv as the binary would, and runs the script as __main__ with the PromptFace package made unimportable."""
    out, _ = animated
    script = Path(__file__).resolve().parents[2] / "addon" / "render_frames.py"
    frames = tmp_path / "farm"
    driver = (
        "import sys, runpy, bpy\n"
        "sys.modules['addon'] = None  # the script must not need the package\n"
        f"bpy.ops.wm.open_mainfile(filepath={str(out / 'face.blend')!r})\n"
        f"sys.argv = ['blender', '-b', 'face.blend', '-P', {str(script)!r}, '--', '--out', {str(frames)!r},"
        " '--frames', '1-1', '--size', '24', '--samples', '1']\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n")
    result = subprocess.run([sys.executable, "-c", driver], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rendered 1 frames" in result.stdout
    assert (frames / "frame_0001.png").is_file()
