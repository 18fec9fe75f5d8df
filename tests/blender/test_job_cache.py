"""Downloaded job folders: a saved .blend packs the textures its face reads from one, and folders no face of the open
file uses are deleted once older than Keep Downloads (when Generate starts and after a file is loaded); a folder a
face of the open file uses is never deleted. Real Blender, Generate on the local backend."""
import os
import time
from pathlib import Path

import bpy

from addon.generation import job_cache
from addon.scene.face_textures import face_images
from addon.scene.unity_export import export_unity

MONTH_S = 30 * 86400


def make_old(folder):
    then = time.time() - MONTH_S
    os.utime(folder, (then, then))


def old_folder(root, name):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    make_old(folder)
    return folder


def test_generate_cleans_old_unused_downloads_and_keeps_what_the_open_file_uses(live_addon):
    run = live_addon.generate(["happy"])
    root = job_cache.cache_root()
    used = run.job_folder
    assert used.parent == root
    assert {Path(image.filepath).parent for image in face_images(live_addon.face()).values()} == {used}
    make_old(used)
    unused_old = old_folder(root, "an-old-job")
    unused_recent = root / "a-recent-job"
    unused_recent.mkdir()

    live_addon.start(["surprised"])  # Generate cleans before it starts
    live_addon.session.cancel()
    assert live_addon.session.run_until_idle(120)

    assert not unused_old.exists()
    assert used.is_dir() and unused_recent.is_dir()
    live_addon.prefs.keep_downloads_days = 0
    assert job_cache.clean_job_cache() == [unused_recent]
    assert used.is_dir()  # in use, whatever its age


def test_a_saved_blend_packs_its_downloaded_textures_and_outlives_the_download(live_addon, tmp_path):
    run = live_addon.generate(["happy"])
    used = run.job_folder
    saved = tmp_path / "saved" / "face.blend"
    saved.parent.mkdir()
    assert bpy.ops.wm.save_as_mainfile(filepath=str(saved)) == {"FINISHED"}
    images = face_images(live_addon.face())
    assert images and all(image.packed_file is not None for image in images.values())

    make_old(used)
    bpy.ops.wm.read_homefile(use_empty=True)  # another file: the download is no longer used, and is old
    assert not used.exists()

    bpy.ops.wm.open_mainfile(filepath=str(saved))
    face = bpy.data.objects[run.face_name]
    for file_name, image in face_images(face).items():
        assert image.packed_file is not None and tuple(image.size) == (512, 512) and image.has_data, file_name
    result = export_unity(face, tmp_path / "unity")
    assert result.expressions == ["as_photographed", "happy"]
    for file_name, image in face_images(face).items():
        assert (tmp_path / "unity" / "textures" / file_name).read_bytes() == bytes(image.packed_file.data)
