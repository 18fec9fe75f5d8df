"""An expression as a point in the rig's 52-dimensional space: the ARKit weights in [0, 1] whose blend of shapes comes
closest to the expression's own vertices (bounded least squares), and how close that is, in millimetres."""
from dataclasses import dataclass

import numpy as np
from scipy.optimize import lsq_linear

# Weights below this are left out of the manifest (they move no vertex by more than a fraction of a millimetre).
MIN_STORED_WEIGHT = 0.005
# A small pull of every weight towards 0, relative to the shapes' own size: where shapes cancel each other
# (mouthLeft + mouthRight, jawLeft + jawRight) the fit keeps neither instead of both at full weight.
RIDGE = 1e-3


@dataclass(frozen=True)
class ArkitFit:
    weights: dict[str, float]  # {shape: weight}, only those ≥ MIN_STORED_WEIGHT
    mean_mm: float             # mean over vertices of |blend − expression|
    max_mm: float

    def record(self) -> dict:
        return {"mean_mm": round(self.mean_mm, 3), "max_mm": round(self.max_mm, 3)}


def shape_deltas(neutral: np.ndarray, shapes: list[np.ndarray]) -> np.ndarray:
    """(3V, N) float64: each shape's (V,3) vertices minus the neutral's, as one column."""
    return np.stack([(np.asarray(shape, np.float64) - neutral).ravel() for shape in shapes], axis=1)


def fit_arkit_weights(neutral: np.ndarray, expression: np.ndarray, names: list[str],
                      deltas: np.ndarray) -> ArkitFit:
    """neutral, expression: (V,3) metres in the base topology; deltas: shape_deltas of the rig's shapes, in `names`
    order."""
    neutral = np.asarray(neutral, np.float64)
    target = (np.asarray(expression, np.float64) - neutral).ravel()
    ridge = np.sqrt(RIDGE) * np.diag(np.linalg.norm(deltas, axis=0))
    solution = lsq_linear(np.vstack([deltas, ridge]), np.concatenate([target, np.zeros(len(names))]),
                          bounds=(0.0, 1.0), method="bvls")
    weights = np.clip(solution.x, 0.0, 1.0)
    residual = (deltas @ weights - target).reshape(-1, 3)
    errors_mm = 1000.0 * np.linalg.norm(residual, axis=1)
    kept = {name: round(float(weight), 4) for name, weight in zip(names, weights, strict=True)
            if weight >= MIN_STORED_WEIGHT}
    return ArkitFit(weights=kept, mean_mm=float(errors_mm.mean()), max_mm=float(errors_mm.max()))


def blend(neutral: np.ndarray, names: list[str], deltas: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    """(V,3) the rig's vertices at `weights` (names missing from it count 0)."""
    vector = np.array([weights.get(name, 0.0) for name in names])
    return np.asarray(neutral, np.float64) + (deltas @ vector).reshape(-1, 3)
