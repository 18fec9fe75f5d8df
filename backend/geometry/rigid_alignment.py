"""Least-squares similarity alignment of point sets (rotation, uniform scale, translation)."""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Similarity:
    scale: float
    rotation: np.ndarray     # (D,D), det +1
    translation: np.ndarray  # (D,)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(N,D) → (N,D)."""
        return self.scale * points @ self.rotation.T + self.translation


def fit_similarity(source: np.ndarray, target: np.ndarray) -> Similarity:
    """The similarity that best maps (N,D) source points onto (N,D) target points (Umeyama's method)."""
    if source.shape != target.shape or len(source) < source.shape[1] + 1:
        raise ValueError(f"need matching point sets of at least D+1 points, got {source.shape} and {target.shape}")
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(len(singular))
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    variance = (source_centred ** 2).sum() / len(source)
    scale = float((singular * sign).sum() / variance)
    translation = target_mean - scale * rotation @ source_mean
    return Similarity(scale=scale, rotation=rotation, translation=translation)
