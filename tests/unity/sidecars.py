"""Sidecars for the tests: a face with expressions, and the same face as an ARKit rig."""
import dataclasses

from addon.core.arkit import ARKIT_SHAPES, VISEMES
from addon.core.unity_sidecar import SidecarExpression, SidecarTimeline, UnitySidecar, sidecar_rig

TEXTURED = {name: (f"textures/rig.{name}.texture.png", f"textures/rig.{name}.mask.png")
            for name in ("browInnerUp", "tongueOut")}
"""Two textured rig shapes: a crease and the tongue."""
POSES = {"happy": {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8, "cheekSquintLeft": 0.4}, **VISEMES}


def sidecar(count: int = 2) -> UnitySidecar:
    names = ["happy", "surprised", "angry"] + [f"mix_{i}" for i in range(20)]
    expressions = [SidecarExpression(name, f"textures/{name}.texture.png", f"textures/{name}.mask.png", name)
                   for name in names[:count]]
    return UnitySidecar(fbx="face.fbx", base_texture="textures/base_texture.png", expressions=expressions,
                        timeline=SidecarTimeline(fps=30, frame_start=1, frame_end=73))


def rigged(count: int = 2, kind: str = "arkit", shapes=ARKIT_SHAPES, textured: dict = TEXTURED,
           poses: dict = POSES) -> UnitySidecar:
    return dataclasses.replace(sidecar(count), rig=sidecar_rig(kind, shapes, textured, poses))
