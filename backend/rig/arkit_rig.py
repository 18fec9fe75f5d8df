"""Pipeline steps 4 and 9 with `rig="arkit"`: the subject's ARKit-52 rig, built once per prepared subject, and every
expression's place in it (its ARKit weights and how close they come)."""
import dataclasses
from dataclasses import dataclass

import numpy as np

from addon.core.arkit import ARKIT_RIG, VISEMES
from addon.core.expression_set import ExpressionData, RigData
from backend.rig.arkit_fit import fit_arkit_weights, shape_deltas
from backend.rig.arkit_shapes import build_arkit_shapes


@dataclass
class ArkitRig:
    data: RigData
    neutral: np.ndarray   # (V,3) the base vertices the shapes are deltas from
    deltas: np.ndarray    # (3V, 52) shape_deltas, in ARKit's order

    def place(self, expression: ExpressionData) -> ExpressionData:
        """A copy of expression with its arkit_weights and arkit_fit filled in."""
        fit = fit_arkit_weights(self.neutral, expression.vertices, [shape.name for shape in self.data.shapes],
                                self.deltas)
        return dataclasses.replace(expression, arkit_weights=fit.weights, arkit_fit=fit.record())


def build_arkit_rig(subject, base, engines, reconstructor: str, enhance: bool) -> ArkitRig:
    """The 52 shapes of a prepared subject in its base topology, the 15 visemes as named poses. On the landmarks
    mesh the warp editor also draws each shape's skin (whatever editor the prompts use); on FLAME the shapes are
    solved FLAME poses (backend/rig/flame_shapes.py)."""
    if reconstructor == "deca":
        from backend.rig.flame_shapes import build_flame_shapes  # torch: only where DECA runs

        shapes = build_flame_shapes(subject, base, engines.reconstructor_for("deca").deca)
    else:
        shapes = build_arkit_shapes(subject, base, engines.reconstructor_for(reconstructor),
                                    engines.editor_for("warp"), enhance=enhance)
    neutral = np.asarray(base.mesh.vertices, np.float64)
    return ArkitRig(data=RigData(kind=ARKIT_RIG, shapes=shapes, poses={name: dict(pose) for name, pose in
                                                                       VISEMES.items()}),
                    neutral=neutral, deltas=shape_deltas(neutral, [shape.vertices for shape in shapes]))
