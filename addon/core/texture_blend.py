"""The texture-blend reference maths: the definition that the Blender node group and the Unity shader match.

Shape-key weights drive everything. For expression k with weight w_k in [0, 1], change mask M_k in [0, 1],
base texture T0 and expression texture T_k:

    e_k = (1 - M_k) * w_k + M_k * smoothstep(a, b, w_k)
    T   = clamp(T0 + sum_k e_k * (T_k - T0), 0, 1)

Where the expression changes the face (mouth, brows) the mask is high and the texture switches late and fast
instead of cross-fading, so there are no half-transparent teeth.
"""

import numpy as np

DEFAULT_EDGE_LOW = 0.35
DEFAULT_EDGE_HIGH = 0.65


def smoothstep(edge_low: float, edge_high: float, x) -> np.ndarray:
    """Hermite step of x: 0 at or below edge_low, 1 at or above edge_high, 3t² − 2t³ between.

    x: any shape. Returns float64 of the same shape.
    """
    _check_edges(edge_low, edge_high)
    t = np.clip((np.asarray(x, dtype=np.float64) - edge_low) / (edge_high - edge_low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def effective_weight(mask, weight, edge_low: float = DEFAULT_EDGE_LOW,
                     edge_high: float = DEFAULT_EDGE_HIGH) -> np.ndarray:
    """Per-pixel blend weight e = (1 − M)·w + M·smoothstep(a, b, w).

    mask: any shape, values in [0, 1]; weight: scalar shape-key value in [0, 1] (or broadcastable to mask).
    Returns float64 of the broadcast shape.
    """
    mask = np.asarray(mask, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    return (1.0 - mask) * weight + mask * smoothstep(edge_low, edge_high, weight)


def blend_textures(base, textures, masks, weights, edge_low: float = DEFAULT_EDGE_LOW,
                   edge_high: float = DEFAULT_EDGE_HIGH) -> np.ndarray:
    """Colour of the blended face texture for one set of shape-key weights.

    base: (H,W,C) float in [0,1]; textures: (K,H,W,C) float in [0,1]; masks: (K,H,W) float in [0,1];
    weights: (K,) in [0,1]. K may be 0. Returns (H,W,C) float32 in [0,1].
    """
    _check_edges(edge_low, edge_high)
    base, textures, masks, weights = _check_blend_inputs(base, textures, masks, weights)
    base = base.astype(np.float64)
    blended = base.copy()
    # One expression at a time keeps memory at a few (H,W,C) arrays whatever K is.
    for texture, mask, weight in zip(textures, masks, weights, strict=True):
        effective = effective_weight(mask, weight, edge_low, edge_high)
        blended += effective[..., None] * (texture.astype(np.float64) - base)
    return np.clip(blended, 0.0, 1.0).astype(np.float32)


def _check_edges(edge_low: float, edge_high: float) -> None:
    if not edge_low < edge_high:
        raise ValueError(f"smoothstep needs edge_low < edge_high, got {edge_low} and {edge_high}")


def _check_blend_inputs(base, textures, masks, weights):
    """Turn the inputs of blend_textures into arrays, raising ValueError naming the first one that is wrong."""
    base = _float_array("base", base)
    if base.ndim != 3:
        raise ValueError(f"base must have shape (H,W,C), got {base.shape}")
    height, width, channels = base.shape
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1:
        raise ValueError(f"weights must have shape (K,), got {weights.shape}")
    count = weights.shape[0]
    # With no expressions, an empty list stands for the (0,H,W,C) and (0,H,W) arrays.
    if count == 0 and np.size(textures) == 0 and np.size(masks) == 0:
        textures = np.zeros((0, height, width, channels))
        masks = np.zeros((0, height, width))
    textures = _float_array("textures", textures)
    masks = _float_array("masks", masks)
    if textures.shape != (count, height, width, channels):
        raise ValueError(f"textures must have shape (K,H,W,C) = {(count, height, width, channels)} "
                         f"to match weights and base, got {textures.shape}")
    if masks.shape != (count, height, width):
        raise ValueError(f"masks must have shape (K,H,W) = {(count, height, width)} "
                         f"to match weights and base, got {masks.shape}")
    if np.any((weights < 0.0) | (weights > 1.0)) or not np.all(np.isfinite(weights)):
        raise ValueError(f"weights must lie in [0, 1], got {weights.tolist()}")
    return base, textures, masks, weights


def _float_array(name: str, values) -> np.ndarray:
    """values as a float array (dtype kept); integer images are refused because 0..255 is not 0..1."""
    array = np.asarray(values)
    if array.size and array.dtype.kind not in "f":
        raise ValueError(f"{name} must be a float array with values in [0, 1], got dtype {array.dtype} "
                         "(divide 8-bit images by 255)")
    return array
