"""The subject's 52 ARKit shapes on FLAME (`--reconstructor deca`): each shape's landmark motion — the same recipe of
the subject's own action-unit fields the CPU rig uses, on its 468 FaceMesh landmarks — carried onto FLAME's 68
landmarks and solved as FLAME expression + jaw parameters (backend/flame/arkit_solve.py); eyeLook* as FLAME's eye
rotations. The FLAME → ARKit conversion: every shape is a FLAME pose of the subject's own head. No texture of its own:
the FLAME shapes are geometry (the skin's creases come with the per-prompt expressions' textures)."""
import numpy as np
import torch

from addon.core.arkit import ARKIT_SHAPES
from addon.core.expression_set import RigShapeData
from backend.flame import lbs
from backend.flame.arkit_solve import FlamePoseFit, landmark_targets_from_points, solve_arkit_shapes
from backend.reconstructors.reconstruction import ReconstructionBase
from backend.rig.arkit_recipes import ARKIT_RECIPES
from backend.rig.arkit_shapes import recipe_record, landmark_displacement, rig_fields
from backend.subject.calibration import Subject
from backend.subject.face_topology import LANDMARK_COUNT


def landmark_targets(subject: Subject, flame_landmarks_px: np.ndarray, flame_landmarks_m: np.ndarray,
                     head_rotation: np.ndarray, displacement_m: np.ndarray) -> np.ndarray:
    """(68,3) metres in FLAME's unposed frame: a (468,3) FaceMesh displacement (metres, the subject's mesh frame) at
    FLAME's 68 landmarks. Both landmark sets are in the crop's pixels, so the motion is carried across there (x, y)
    and scaled to FLAME's metres by the two sets' spread; depth keeps the FaceMesh metres. head_rotation: (3,3) the
    neutral's head pose, taken out so the solve sees the motion as the unposed head makes it."""
    neutral_m = subject.base_mesh.vertices[:LANDMARK_COUNT].astype(np.float64)
    neutral_px = subject.crop_to_mesh.to_pixels(neutral_m)
    moved_px = subject.crop_to_mesh.to_pixels(neutral_m + displacement_m)
    offsets = np.column_stack([moved_px[:, 0] - neutral_px[:, 0], moved_px[:, 1] - neutral_px[:, 1],
                               displacement_m @ subject.frame.axes[2]])
    points = np.column_stack([neutral_px[:, :2], np.zeros(LANDMARK_COUNT)])
    flame_points = np.column_stack([flame_landmarks_px[:, :2], np.zeros(len(flame_landmarks_px))])
    carried = landmark_targets_from_points(points, offsets, flame_points)
    metres_per_px = flame_landmarks_m[:, :2].std(axis=0).mean() / flame_landmarks_px[:, :2].std(axis=0).mean()
    in_head = np.column_stack([carried[:, 0] * metres_per_px, -carried[:, 1] * metres_per_px, carried[:, 2]])
    return in_head @ head_rotation  # rows are posed vectors: v_unposed = Rᵀ v_posed


def build_flame_shapes(subject: Subject, base: ReconstructionBase, deca) -> list[RigShapeData]:
    """The 52 shapes in ARKit's order as vertices of the base (FLAME's 5023, the neutral's head pose)."""
    identity = base.state
    codes = identity.codes
    model = deca.flame
    with torch.no_grad():
        posed = model(codes.shape, codes.exp, codes.pose)
        head_rotation = lbs.rodrigues(codes.pose[:, :3])[0].double().cpu().numpy()
    flame_landmarks_m = posed.landmarks2d[0].double().cpu().numpy()
    fields = rig_fields(subject)
    targets, eye_angles = {}, {}
    for name in ARKIT_SHAPES:
        recipe = ARKIT_RECIPES[name]
        if recipe.eye_rotation is not None:
            eye_angles[name] = (*recipe.eye_rotation, recipe.side)
        else:
            targets[name] = landmark_targets(subject, identity.landmarks2d_px, flame_landmarks_m, head_rotation,
                                             landmark_displacement(fields, recipe))
    fits = solve_arkit_shapes(model, codes.shape.detach(), targets, eye_angles)
    base_vertices = np.asarray(base.mesh.vertices, np.float64)
    return [RigShapeData(name=name, vertices=(base_vertices + fits[name].vertex_offsets @ head_rotation.T)
                         .astype(np.float32), recipe={**recipe_record(ARKIT_RECIPES[name]),
                                                      **_flame_record(fits[name])})
            for name in ARKIT_SHAPES]


def _flame_record(fit: FlamePoseFit) -> dict:
    """The FLAME parameters of a shape, for users who drive FLAME with ARKit weights."""
    return {"flame": {"expression": [round(float(value), 5) for value in fit.expression],
                      "jaw_pose": [round(float(value), 5) for value in fit.jaw_pose],
                      "eye_pose": [round(float(value), 5) for value in fit.eye_pose],
                      "landmark_error_mm": round(1000 * fit.landmark_error_mean_m, 3)}}
