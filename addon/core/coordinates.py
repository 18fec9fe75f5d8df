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
