"""Small expression sets for the tests of addon/core/expression_set/: a four-vertex mesh, random images, and the
arguments of write_expression_set."""
import json
from pathlib import Path

import numpy as np

from addon.core.expression_set import ExpressionData, write_expression_set
from addon.core.obj_mesh import Mesh

TEXTURE_HEIGHT, TEXTURE_WIDTH = 6, 8
PHOTO_BYTES = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes are bytes"


def sample_mesh():
    return Mesh(
        vertices=np.array([[0, 0, 0], [0.1, 0, 0], [0.1, 0.1, 0.01], [0, 0.1, 0]], dtype=np.float32),
        faces=np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32),
        uvs=np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32),
        face_uvs=np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32),
    )


def sample_image(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def sample_expression(name, seed, **changes):
    base = sample_mesh().vertices
    fields = dict(
        name=name,
        prompt=f"{name} face",
        full_prompt=f"a person with a {name} face facial expression",
        vertices=base + np.float32(0.001 * seed),
        texture=sample_image((TEXTURE_HEIGHT, TEXTURE_WIDTH, 3), seed),
        mask=sample_image((TEXTURE_HEIGHT, TEXTURE_WIDTH), seed + 100),
        edited=sample_image((10, 9, 3), seed + 200),
        action_units={"AU12": 0.8} if name == "happy" else None,
        weights={"happy": 1.0} if name == "happy" else None,
        metrics={"ssim": 0.9 + 0.01 * seed, "identity": np.float32(0.75)},
        timings={"edit_s": 1.5 * seed},
        warnings=[f"warning {seed}"] if seed else [],
    )
    fields.update(changes)
    return ExpressionData(**fields)


def sample_arguments(**changes):
    arguments = dict(
        subject={"size": [640, 480], "face_box": [100, 80, 200, 240]},
        subject_photo=("subject.jpg", PHOTO_BYTES),
        engines={"editor": {"name": "warp", "version": "1"}, "reconstructor": {"name": "landmarks"}},
        base_mesh=sample_mesh(),
        base_texture=sample_image((TEXTURE_HEIGHT, TEXTURE_WIDTH, 3), 99),
        expressions=[sample_expression("neutral", 0), sample_expression("happy", 1),
                     sample_expression("surprised", 2)],
    )
    arguments.update(changes)
    return arguments


def write_sample_set(parent: Path) -> Path:
    """A complete set of three expressions (neutral, happy, surprised) at parent/sets/alice."""
    return write_expression_set(parent / "sets" / "alice", **sample_arguments())


def edit_manifest(set_dir, change):
    path = set_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def assert_nothing_written(parent):
    """parent holds no set and no hidden temporary folder."""
    assert not parent.exists() or list(parent.iterdir()) == []

