"""Render frames of a PromptFace scene with Cycles on the CPU.

Imports nothing but bpy and the standard library, so a render farm can run it with any Blender ≥ 4.2:

    blender -b face.blend -P <extension folder>/render_frames.py -- --out frames/ [--frames 1-30] [--size 512]

`promptface render face.blend --out frames/` does the same with Blender as a Python module.
"""
import argparse
import contextlib
import os
import sys
from pathlib import Path

import bpy


def configure_cycles(scene, size: int, samples: int) -> None:
    """Cycles on the CPU at size×size, colours shown as stored (Standard view transform), PNG output."""
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = False
    scene.view_settings.view_transform = "Standard"
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"


@contextlib.contextmanager
def blender_output_silenced():
    """Send what Blender's C code prints on stdout (a few lines per rendered frame) to /dev/null."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def render_still(scene, path: Path) -> Path:
    """Render the scene's current frame to a PNG file."""
    scene.render.filepath = str(path)
    with blender_output_silenced():
        bpy.ops.render.render(write_still=True, scene=scene.name)
    return path


def render_frames(scene, frames: list[int], out_dir: Path, progress=None) -> list[Path]:
    """Render each frame to out_dir/frame_NNNN.png; returns the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, frame in enumerate(frames):
        scene.frame_set(frame)
        written.append(render_still(scene, out_dir / f"frame_{frame:04d}.png"))
        if progress:
            progress((index + 1) / len(frames), f"rendered frame {frame}")
    return written


def frame_range(text: str | None, scene) -> list[int]:
    """"A-B" (or "A") → the frames; None → the scene's range. Refuses frames outside the scene's range."""
    if text is None:
        return list(range(scene.frame_start, scene.frame_end + 1))
    try:
        first, _, last = text.partition("-")
        first, last = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"--frames '{text}' is not A-B (e.g. 1-30)") from None
    if not scene.frame_start <= first <= last <= scene.frame_end:
        raise ValueError(f"--frames {text} is outside the scene's frames {scene.frame_start}-{scene.frame_end}")
    return list(range(first, last + 1))


def render_open_file(out_dir: Path, frames: str | None = None, size: int = 512, samples: int = 16,
                     progress=None) -> list[Path]:
    """Render the currently open .blend's scene."""
    scene = bpy.context.scene
    if scene.camera is None:
        raise ValueError("the scene has no camera; it was not saved by PromptFace (or the camera was deleted)")
    configure_cycles(scene, size, samples)
    return render_frames(scene, frame_range(frames, scene), Path(out_dir), progress)


def render_blend_file(blend: Path, out_dir: Path, frames: str | None = None, size: int = 512, samples: int = 16,
                      progress=None) -> list[Path]:
    """Open a saved PromptFace scene and render it."""
    from .core.errors import PromptFaceError  # only when run as part of the package
    open_blend_file(blend)
    try:
        return render_open_file(out_dir, frames, size, samples, progress)
    except ValueError as error:
        raise PromptFaceError(str(error)) from error


def open_blend_file(blend: Path) -> None:
    """Open a .blend file, raising PromptFaceError when it is missing or Blender cannot read it."""
    from .core.errors import PromptFaceError  # only when run as part of the package
    if not Path(blend).is_file():
        raise PromptFaceError(f"'{blend}' does not exist or is not a file")
    try:
        # Absolute: Blender resolves a relative path against $PWD, which need not be the working directory.
        bpy.ops.wm.open_mainfile(filepath=str(Path(blend).resolve()))
    except RuntimeError as error:
        raise PromptFaceError(f"'{blend}' could not be opened by Blender: {error}") from error


def _arguments_after_double_dash(argv: list[str]) -> list[str]:
    return argv[argv.index("--") + 1:] if "--" in argv else []


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="blender -b FILE.blend -P render_frames.py --")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--frames")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--samples", type=int, default=16)
    args = parser.parse_args(argv)
    written = render_open_file(args.out, args.frames, args.size, args.samples,
                               progress=lambda fraction, message: print(message, flush=True))
    print(f"rendered {len(written)} frames to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(_arguments_after_double_dash(sys.argv)))
