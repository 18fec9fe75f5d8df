"""A set in memory: what a writer is given for each expression, and what a reader returns."""
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ExpressionSetError
from ..obj_mesh import Mesh


@dataclass
class ExpressionData:
    """What a writer is given for one expression."""

    name: str
    """File-safe name (a-z, 0-9, _), unique in the set; the first expression of a set is the neutral."""
    prompt: str
    """The prompt as the user typed it."""
    full_prompt: str
    """The prompt as the editor received it (after the template)."""
    vertices: np.ndarray
    """(V,3) float32, same vertex order as the base mesh."""
    texture: np.ndarray
    """(H,W,3) uint8 sRGB in the base UV layout, the size of the base texture."""
    mask: np.ndarray
    """(H,W) uint8 change mask against the base texture."""
    edited: np.ndarray
    """(h,w,3) uint8, the edited photo."""
    action_units: dict | None = None
    weights: dict | None = None
    metrics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    reads_as: dict | None = None
    """{class: probability} from the backend's expression recogniser (None: not scored)."""
    arkit_weights: dict | None = None
    """{ARKit shape name: weight in [0, 1]}: this expression as a pose of the set's ARKit rig (None: no rig)."""
    arkit_fit: dict | None = None
    """How far that pose is from the expression's own vertices: {"mean_mm": …, "max_mm": …}."""


@dataclass
class RigShapeData:
    """What a writer is given for one shape of a rig."""

    name: str
    """The shape's own name (ARKit's spelling: eyeBlinkLeft), unique in the rig."""
    vertices: np.ndarray
    """(V,3) float32, same vertex order as the base mesh."""
    texture: np.ndarray | None = None
    """(H,W,3) uint8 in the base UV layout where the shape changes the skin (creases, teeth, tongue), else None."""
    mask: np.ndarray | None = None
    """(H,W) uint8 change mask against the base texture, with the texture."""
    recipe: dict = field(default_factory=dict)
    """What made the shape (action units, motions, eye rotation), for the record."""


@dataclass
class RigData:
    """A rig for a writer: its kind ("arkit"), its shapes and named poses {pose: {shape: weight}}."""

    kind: str
    shapes: list[RigShapeData]
    poses: dict = field(default_factory=dict)


@dataclass
class RigShape:
    """One shape of a rig that has been read."""

    name: str
    vertices: np.ndarray
    texture_path: Path | None
    mask_path: Path | None
    record: dict


@dataclass
class Rig:
    """A set's rig as read: kind, shapes in the manifest's order, and named poses {pose: {shape: weight}}."""

    kind: str
    shapes: list[RigShape]
    poses: dict

    def names(self) -> list[str]:
        return [shape.name for shape in self.shapes]


@dataclass
class Expression:
    """One expression of a set that has been read."""

    name: str
    prompt: str
    full_prompt: str
    vertices: np.ndarray
    """(V,3) float32, same vertex order as the base mesh."""
    texture_path: Path
    mask_path: Path
    edited_path: Path
    record: dict
    """The raw manifest entry (metrics, timings, warnings, action_units, weights, files)."""

    @property
    def arkit_weights(self) -> dict[str, float]:
        """This expression as a pose of the set's ARKit rig ({} when the set has none)."""
        return dict(self.record.get("arkit_weights") or {})


@dataclass
class ExpressionSet:
    """An expression set that has been read and checked. Expressions keep the manifest's order, neutral first."""

    root: Path
    manifest: dict
    base_mesh: Mesh
    base_texture_path: Path
    expressions: list[Expression]
    rig: Rig | None = None
    """The set's rig (format 1.2), None when it has none."""
    _extracted: tempfile.TemporaryDirectory | None = field(default=None, repr=False, compare=False)
    """Holds the extraction folder of a zipped set alive as long as this object."""

    def names(self) -> list[str]:
        return [expression.name for expression in self.expressions]

    def expression(self, name: str) -> Expression:
        for expression in self.expressions:
            if expression.name == name:
                return expression
        raise ExpressionSetError(f"{self.root}: no expression named {name!r}; "
                                 f"the set has {', '.join(self.names())}")

    def close(self) -> None:
        """Delete the extracted files of a zipped set now instead of when this object is collected."""
        if self._extracted is not None:
            self._extracted.cleanup()
            self._extracted = None
