"""Axis conversions between the expression set's convention and Blender's, in one place.

Expression set: metres, right-handed, +Y up, +Z towards the camera, +X to the image's right.
Blender: metres, right-handed, +Z up, the face looking towards −Y (Blender's front view looks along +Y).
"""
import numpy as np


def expression_set_to_blender(points: np.ndarray) -> np.ndarray:
    """(N,3) expression-set coordinates → (N,3) Blender coordinates: (x, y, z) → (x, −z, y)."""
    points = np.asarray(points)
    return np.stack([points[:, 0], -points[:, 2], points[:, 1]], axis=1)


def blender_to_expression_set(points: np.ndarray) -> np.ndarray:
    """Inverse of expression_set_to_blender: (x, y, z) → (x, z, −y)."""
    points = np.asarray(points)
    return np.stack([points[:, 0], points[:, 2], -points[:, 1]], axis=1)


UNITY_FBX_AXES = {"axis_forward": "-Z", "axis_up": "Y", "apply_scale_options": "FBX_SCALE_ALL", "global_scale": 1.0}
"""io_scene_fbx settings of blender_to_unity's first half: the FBX file is written in the expression set's frame
(Y up, the face towards +Z, 1 unit = 1 m), with the axis change baked into the geometry (bake_space_transform)."""


def blender_to_unity(points: np.ndarray) -> np.ndarray:
    """(N,3) Blender coordinates → (N,3) Unity coordinates of the exported face: (x, y, z) → (−x, z, −y), metres.

    Unity is left-handed, +Y up, +Z forward. The export writes the FBX in the expression set's right-handed frame
    (UNITY_FBX_AXES: Blender (x, y, z) → FBX (x, z, −y), metres), and Unity's FBX importer makes a right-handed Y-up
    file left-handed by mirroring X. So the face looks along Unity's +Z (its forward), the subject's left side (the
    image's right, +X in the set) lands on Unity's −X, and the scale stays 1.
    """
    points = np.asarray(points)
    return np.stack([-points[:, 0], points[:, 2], -points[:, 1]], axis=1)
