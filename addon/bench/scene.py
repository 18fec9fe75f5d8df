"""`promptface bench scene`, `bench disk` and `bench animate`: building a face, bytes on disk, and animate's stages."""
import tempfile
import time
from pathlib import Path

import bpy
import numpy as np

from ..core.coordinates import expression_set_to_blender
from ..core.arkit import ARKIT_RIG, ARKIT_SHAPES, VISEMES
from ..core.expression_set import ExpressionData, RigData, RigShapeData, read_expression_set, write_expression_set
from ..core.obj_mesh import Mesh, write_obj
from ..core.png import encode_png
from ..scene.face_object import build_face_object

THESIS_INBETWEENS = 10
THESIS_TEXTURE_PX = 1024


def bench_scene(vertex_counts=(5_000, 60_000), expressions: int = 10) -> None:
    print(f"scene build, {expressions} expressions: foreach_set (ours) against a per-vertex loop")
    for count in vertex_counts:
        with tempfile.TemporaryDirectory() as folder:
            expression_set = grid_set(Path(folder) / "set", count, expressions)
            bpy.ops.wm.read_factory_settings(use_empty=True)
            start = time.perf_counter()
            build_face_object(expression_set)
            ours = time.perf_counter() - start
            bpy.ops.wm.read_factory_settings(use_empty=True)
            start = time.perf_counter()
            _build_with_loops(expression_set)
            loops = time.perf_counter() - start
        print(f"  {count:>6} vertices: ours {ours:7.3f} s, per-vertex loop {loops:7.3f} s "
              f"-> ours is {loops / ours:.1f}x faster")


def grid_set(path: Path, vertex_count: int, expression_count: int, rig: bool = False):
    """A synthetic set on a square grid of about `vertex_count` vertices, each expression random noise on it; with
    `rig`, also an ARKit rig (52 noisy shapes, tongueOut with a texture, the visemes) and each expression's pose."""
    side = int(np.ceil(np.sqrt(vertex_count)))
    xs, ys = np.meshgrid(np.linspace(-0.07, 0.07, side), np.linspace(-0.08, 0.08, side))
    vertices = np.column_stack([xs.ravel(), ys.ravel(), np.zeros(side * side)]).astype(np.float32)
    index = np.arange(side * side).reshape(side, side)
    a, b, c, d = index[:-1, :-1].ravel(), index[1:, :-1].ravel(), index[:-1, 1:].ravel(), index[1:, 1:].ravel()
    faces = np.concatenate([np.column_stack([a, b, c]), np.column_stack([c, b, d])]).astype(np.int32)
    uvs = ((vertices[:, :2] - vertices[:, :2].min(axis=0)) / np.ptp(vertices[:, :2], axis=0)).astype(np.float32)
    texture = np.zeros((8, 8, 3), np.uint8)
    rng = np.random.default_rng(0)
    expressions = [ExpressionData("neutral", "neutral", "neutral", vertices, texture, texture[..., 0], texture)]
    for k in range(expression_count):
        moved = vertices + rng.normal(0, 0.001, vertices.shape).astype(np.float32)
        expressions.append(ExpressionData(f"e{k}", f"e{k}", f"e{k}", moved, texture, texture[..., 0], texture,
                                          arkit_weights={ARKIT_SHAPES[k % 52]: 1.0} if rig else None))
    rig_data = None
    if rig:
        shapes = [RigShapeData(name, vertices + rng.normal(0, 0.001, vertices.shape).astype(np.float32),
                               texture if name == "tongueOut" else None,
                               texture[..., 0] if name == "tongueOut" else None) for name in ARKIT_SHAPES]
        rig_data = RigData(kind=ARKIT_RIG, shapes=shapes, poses=dict(VISEMES))
    write_expression_set(path, subject={"size": [8, 8], "face_box": [0, 0, 8, 8]}, subject_photo=("s.png", b"x"),
                         engines={}, base_mesh=Mesh(vertices, faces, uvs, faces.copy()), base_texture=texture,
                         expressions=expressions, rig=rig_data)
    return read_expression_set(path)


def _build_with_loops(expression_set):
    """The baseline: the same face built with Blender's convenient per-element Python API."""
    source = expression_set.base_mesh
    mesh = bpy.data.meshes.new("loops")
    mesh.from_pydata([tuple(v) for v in expression_set_to_blender(source.vertices)], [],
                     [tuple(f) for f in source.faces])
    uv_layer = mesh.uv_layers.new(name="UVMap")
    for corner, uv_index in enumerate(np.asarray(source.face_uvs).ravel()):
        uv_layer.data[corner].uv = source.uvs[uv_index]
    face = bpy.data.objects.new("loops", mesh)
    bpy.context.scene.collection.objects.link(face)
    face.shape_key_add(name="Basis")
    for expression in expression_set.expressions[1:]:
        key = face.shape_key_add(name=expression.name, from_mix=False)
        for point, co in zip(key.data, expression_set_to_blender(expression.vertices), strict=True):
            point.co = co
    return face


def bench_disk(shot: Path) -> None:
    """Compare an animate output folder with what the thesis' workflow would write for the same timeline."""
    expression_set = read_expression_set(shot / "expressions")
    ours = {name: _folder_bytes(shot / name) for name in ("expressions", "face.blend", "face.fbx", "textures")}
    transitions = len(expression_set.expressions)  # neutral → e1 → … → eN → neutral
    with tempfile.TemporaryDirectory() as folder:
        one = _thesis_transition_bytes(expression_set, Path(folder))
    thesis = one * transitions
    total = sum(ours.values())
    print(f"bytes on disk for a {len(expression_set.expressions) - 1}-expression timeline ({shot})")
    for name, size in ours.items():
        print(f"  ours {name:<12} {size / 1e6:8.2f} MB")
    print(f"  ours total        {total / 1e6:8.2f} MB")
    print(f"  thesis            {thesis / 1e6:8.2f} MB  ({transitions} transitions x {THESIS_INBETWEENS} OBJ + "
          f"{THESIS_TEXTURE_PX}² PNG, one transition written and measured: {one / 1e6:.2f} MB)")
    print(f"  -> ours is {thesis / total:.1f}x smaller")


def _thesis_transition_bytes(expression_set, folder: Path) -> int:
    """Write one transition the thesis' way (neutral → first expression) and count its bytes."""
    base = expression_set.base_mesh
    target = expression_set.expressions[1]
    start_texture = _read_rgb(expression_set.base_texture_path)
    end_texture = _read_rgb(target.texture_path)
    repeat = THESIS_TEXTURE_PX // start_texture.shape[0]
    for step in range(1, THESIS_INBETWEENS + 1):
        t = step / (THESIS_INBETWEENS + 1)
        vertices = (1 - t) * base.vertices + t * target.vertices
        write_obj(folder / f"frame_{step:02d}.obj", Mesh(vertices, base.faces, base.uvs, base.face_uvs))
        texture = np.rint((1 - t) * start_texture + t * end_texture).astype(np.uint8)
        # Nearest-neighbour upsampling and maximum compression: the baseline at its smallest, in its favour.
        texture = texture.repeat(repeat, axis=0).repeat(repeat, axis=1)
        (folder / f"frame_{step:02d}.png").write_bytes(encode_png(texture, level=9))
    return _folder_bytes(folder)


def _read_rgb(path: Path) -> np.ndarray:
    """An 8-bit image's RGB as float32 0..255, read by Blender (rows bottom first, which is all the same here)."""
    image = bpy.data.images.load(str(path))
    try:
        width, height = image.size
        pixels = np.empty(width * height * image.channels, np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    return 255.0 * pixels.reshape(height, width, -1)[..., :3]


def _folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_animate(out: Path) -> Path:
    from ..animate import AnimateRequest, animate

    request = AnimateRequest(prompts=["happy", "a delighted surprise", "70% happy + 30% surprised"], out_dir=out,
                             sample="astronaut", overwrite=True)
    start = time.perf_counter()
    result = animate(request)
    total = time.perf_counter() - start
    print("promptface animate on the sample, 3 prompts, default preview (256², 16 samples, 10 fps)")
    for stage, seconds in result.seconds.items():
        print(f"  {stage:<9} {seconds:7.2f} s  ({seconds / total:5.1%})")
    print(f"  total     {total:7.2f} s")
    return out
