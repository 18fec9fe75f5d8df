"""Pipeline steps 4 and 9 with `rig="arkit"`: the subject's ARKit-52 rig, built once per prepared subject, and every
expression's place in it (its ARKit weights and how close they come)."""
import dataclasses
from dataclasses import dataclass

import numpy as np

from addon.core.arkit import ARKIT_RIG, VISEMES
from addon.core.errors import PromptFaceError
from addon.core.expression_set import ExpressionData, RigData
from backend.rig.arkit_fit import fit_arkit_weights, shape_deltas
from backend.rig.arkit_shapes import build_arkit_shapes

# The reconstructors whose base topology the CPU rig is built on (FaceMesh's landmarks and their backings).
CPU_RIG_RECONSTRUCTORS = ("landmarks",)


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


def check_rig_options(rig: str, reconstructor: str) -> None:
    if rig == ARKIT_RIG and reconstructor not in CPU_RIG_RECONSTRUCTORS:
        raise PromptFaceError(f"--rig arkit is built on the {', '.join(CPU_RIG_RECONSTRUCTORS)} reconstructor's "
                              f"topology; with --reconstructor {reconstructor} leave --rig at 'prompts'")


def build_arkit_rig(subject, base, engines, enhance: bool) -> ArkitRig:
    """The 52 shapes of a prepared subject (the warp editor draws their skin, whatever editor the prompts use), the
    15 visemes as its named poses."""
    shapes = build_arkit_shapes(subject, base, engines.reconstructor_for("landmarks"), engines.editor_for("warp"),
                                enhance=enhance)
    neutral = np.asarray(base.mesh.vertices, np.float64)
    return ArkitRig(data=RigData(kind=ARKIT_RIG, shapes=shapes, poses={name: dict(pose) for name, pose in
                                                                       VISEMES.items()}),
                    neutral=neutral, deltas=shape_deltas(neutral, [shape.vertices for shape in shapes]))
