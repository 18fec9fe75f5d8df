"""The mouth's own axes, in which the drawn mouth interior (mouth_drawing.py) and the photo's teeth (photo_teeth.py)
are worked out.

u runs along the line from one lip corner to the other (pixels from the image-left corner), v perpendicular to it,
down the face (pixels). The inner lips become two curves v(u), and the teeth hang from (or stand on) lines that
follow the lips where they move towards the teeth and only partly where they curve away.
"""
from dataclasses import dataclass

import numpy as np

# Where the lip curves away from the teeth row, the rigid teeth follow it only this much (the lip covers them).
TEETH_FOLLOW_LIP = 0.3


@dataclass(frozen=True)
class MouthFrame:
    """An inner-lip loop in mouth axes (see the module docstring)."""
    origin: np.ndarray   # (2,) crop pixels of the image-left lip corner
    along: np.ndarray    # (2,) unit vector towards the other corner
    down: np.ndarray     # (2,) unit vector perpendicular to `along`, down the face
    width: float         # corner to corner, pixels
    midline_u: float     # u of the upper lip's middle vertex: where the teeth are centred
    upper: np.ndarray    # (K,2) u,v of the upper inner lip, corner to corner, increasing u
    lower: np.ndarray    # (M,2) u,v of the lower inner lip, increasing u

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """(...,2) crop pixels → (...,2) u,v."""
        offset = points - self.origin
        return np.stack([offset @ self.along, offset @ self.down], axis=-1)

    def to_pixels(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """u,v arrays → (...,2) crop pixels."""
        return self.origin + np.asarray(u)[..., None] * self.along + np.asarray(v)[..., None] * self.down

    def upper_v(self, u):
        return np.interp(u, self.upper[:, 0], self.upper[:, 1])

    def lower_v(self, u):
        return np.interp(u, self.lower[:, 0], self.lower[:, 1])

    def openness(self) -> float:
        """Largest opening height over the middle half of the mouth, as a fraction of the mouth width."""
        u = np.linspace(0.25, 0.75, 11) * self.width
        return float(np.max(self.lower_v(u) - self.upper_v(u)) / self.width)

    def midline_opening(self) -> float:
        """Pixels from the upper inner lip down to the lower one at the teeth midline."""
        return float(self.lower_v(self.midline_u) - self.upper_v(self.midline_u))

    def upper_teeth_line(self, u):
        """v the upper teeth hang from: the upper lip where it rises towards the corners (a smile), flatter
        where it drops (an open jaw)."""
        middle = float(self.upper_v(self.midline_u))
        change = self.upper_v(u) - middle
        return middle + np.minimum(change, 0.0) + TEETH_FOLLOW_LIP * np.maximum(change, 0.0)

    def lower_teeth_line(self, u):
        """v the lower teeth stand on: the lower lip where it drops towards the corners, flatter where it rises."""
        middle = float(self.lower_v(self.midline_u))
        change = self.lower_v(u) - middle
        return middle + np.maximum(change, 0.0) + TEETH_FOLLOW_LIP * np.minimum(change, 0.0)


def mouth_frame(lips: np.ndarray) -> MouthFrame:
    """The mouth axes of an (L,2) inner-lip loop in crop pixels."""
    left, right = int(np.argmin(lips[:, 0])), int(np.argmax(lips[:, 0]))
    along = lips[right] - lips[left]
    width = max(float(np.linalg.norm(along)), 1e-6)
    along = along / width
    down = np.array([-along[1], along[0]])
    count = len(lips)
    chain_a = [(left + k) % count for k in range((right - left) % count + 1)]
    chain_b = [(right + k) % count for k in range((left - right) % count + 1)]
    offset = lips - lips[left]
    local = np.column_stack([offset @ along, offset @ down])
    upper, lower = sorted((chain_a, chain_b), key=lambda chain: local[chain, 1].mean())
    midline_u = float(local[upper[len(upper) // 2], 0])
    return MouthFrame(origin=lips[left], along=along, down=down, width=width, midline_u=midline_u,
                      upper=_increasing_u(local[upper]), lower=_increasing_u(local[lower]))


def _increasing_u(chain: np.ndarray) -> np.ndarray:
    return chain[np.argsort(chain[:, 0], kind="stable")]
