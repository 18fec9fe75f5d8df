"""Sidecars for the tests: a face with expressions, and the same face as an ARKit rig."""
import dataclasses

from addon.core.arkit import ARKIT_SHAPES, VISEMES
from addon.core.unity_sidecar import (MAX_UNITY_EXPRESSIONS, SidecarExpression, SidecarTimeline, UnitySidecar,
                                      sidecar_rig)



def textured(*names: str) -> dict[str, tuple[str, str]]:
    """Textured rig shapes {shape: (texture, mask)}, for sidecar_rig."""
    return {name: (f"textures/rig.{name}.texture.png", f"textures/rig.{name}.mask.png") for name in names}


TEXTURED = textured("browInnerUp", "tongueOut")
"""Two textured rig shapes: a crease and the tongue."""
POSES = {"happy": {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8, "cheekSquintLeft": 0.4}, **VISEMES}


def sidecar(count: int = 2) -> UnitySidecar:
    names = ["happy", "surprised", "angry"] + [f"mix_{i}" for i in range(MAX_UNITY_EXPRESSIONS)]
    expressions = [SidecarExpression(name, f"textures/{name}.texture.png", f"textures/{name}.mask.png", name)
                   for name in names[:count]]
    return UnitySidecar(fbx="face.fbx", base_texture="textures/base_texture.png", expressions=expressions,
                        timeline=SidecarTimeline(fps=30, frame_start=1, frame_end=73))


def rigged(count: int = 2, kind: str = "arkit", shapes=ARKIT_SHAPES, textured: dict = TEXTURED,
           poses: dict = POSES) -> UnitySidecar:
    return dataclasses.replace(sidecar(count), rig=sidecar_rig(kind, shapes, textured, poses))
