"""FLAME → ARKit: each of Apple's ARKit blendshapes as FLAME parameters (expression code, jaw and eye rotations), so
the GPU engine's FLAME head can carry the same 52-shape rig the CPU engine builds on the 468 MediaPipe landmarks.

A geometric shape (jawOpen, mouthSmileLeft, …) arrives as a motion of the 68 FLAME landmarks
(landmark_targets_from_points carries a motion of another landmark set onto them) and is met by a regularised
least-squares fit of the expression code and the jaw rotation (solve_flame_expression). The eyeLook* shapes are
eyeball rotations (eye_look_pose). solve_arkit_shapes does a whole rig at once.

FLAME's frame: metres, +y up, the face looks along +z, +x is the subject's left (right-handed: the subject's right is
forward × up = −x). Joints: 0 root, 1 neck, 2 jaw, 3 and 4 the eyes; FlameModel's eye_pose[:3] turns joint 3 and
eye_pose[3:] joint 4. What could differ between model files is read from the model rather than assumed: which eye
joint is the subject's left (left_eye_slot: the one at larger x) and which sign of the jaw's x rotation opens the
mouth (jaw_opening_sign: the chin moves down). FLAME's jaw only rotates, so a jawForward target is met by the
expression code alone. FLAME 2020 (what backend/flame/assets.py loads, and what DECA uses) has no eyelid blendshapes,
so blinks are whatever its expression space can do.

Written from the maths (Gauss–Newton with Levenberg–Marquardt damping on the landmarks' residuals), not from DECA.
"""
from dataclasses import dataclass

import numpy as np
import torch

from addon.core.arkit import ARKIT_SHAPES
from backend.flame import lbs
from backend.flame.flame_model import FlameModel

LANDMARK_COUNT = 68
MM_PER_M = 1000.0
# FlameModel.forward's full pose is root, neck, jaw, then eye_pose's two eyes in this joint order.
EYE_JOINTS = (3, 4)
EYE_SIDES = ("left", "right", "both")
# Landmarks closer than this to a source point take (all but exactly) that point's offset.
COINCIDENT_M = 1e-9
# Below this squared angle the rotation's sin(a)/a and (1 − cos a)/a² use their Taylor series (exact to 1e-17).
SMALL_ANGLE_SQUARED = 1e-8
# Levenberg–Marquardt: first damping, its factors on a kept / refused step, when a fit counts as converged.
INITIAL_DAMPING, DAMPING_DOWN, DAMPING_UP, MAX_DAMPING = 1e-4, 0.3, 10.0, 1e8
RELATIVE_COST_TOLERANCE, STEP_TOLERANCE = 1e-10, 1e-9


@dataclass(frozen=True)
class JawPrior:
    """What keeps a fitted jaw rotation plausible. Weights are in mm² (the unit of the data term, a weighted mean
    squared landmark error) per rad² of the rotation they penalise."""
    closing_weight: float = 1e5
    """Rotation past the rest pose the closing way (the teeth would go through each other)."""
    sideways_weight: float = 100.0
    """Rotation about y, a sideways swing (jawLeft/jawRight): used when the target asks for it."""
    twist_weight: float = 1e4
    """Rotation about z, a roll of the jaw no ARKit shape asks for: kept to what the target cannot do without."""
    max_opening_rad: float = 0.6
    """About 34°, a wide-open mouth; opening beyond it costs over_opening_weight."""
    over_opening_weight: float = 1e5


@dataclass
class FlamePoseFit:
    """One shape as FLAME parameters, and how well they meet its landmark target."""
    expression: np.ndarray
    """(E,) expression coefficients."""
    jaw_pose: np.ndarray
    """(3,) jaw axis-angle, radians."""
    eye_pose: np.ndarray
    """(6,) FlameModel's eye_pose: two axis-angles, radians."""
    vertex_offsets: np.ndarray
    """(V,3) metres: the posed mesh minus the neutral one (zero expression and pose) of the same identity."""
    landmark_error_mean_m: float
    """Mean distance, over the landmarks with a positive weight, between the fitted landmarks and their targets
    (0 for an eye rotation, which has no landmark target)."""
    landmark_error_max_m: float
    iterations: int
    """Gauss–Newton steps tried (0 for an eye rotation)."""


# ---------------------------------------------------------------------------------------------------------------
# Targets


def landmark_targets_from_points(source_points: np.ndarray, source_offsets: np.ndarray, flame_landmarks: np.ndarray,
                                 *, neighbours: int = 4) -> np.ndarray:
    """Carry a motion given on another landmark set onto the 68 FLAME landmarks.

    source_points: (N,3) e.g. the 468 MediaPipe landmarks, in the FLAME landmarks' metric frame and already aligned
    with them; source_offsets: (N,3) their motion; flame_landmarks: (68,3) the neutral FLAME landmarks. Each FLAME
    landmark takes the inverse-square-distance-weighted mean offset of its `neighbours` nearest source points, the
    distances measured in the face plane (x, y) so a landmark is matched to the points in front of or behind it.
    Returns (68,3) offsets.
    """
    points = _checked_array("source_points", source_points, (None, 3))
    offsets = _checked_array("source_offsets", source_offsets, (len(points), 3))
    landmarks = _checked_array("flame_landmarks", flame_landmarks, (LANDMARK_COUNT, 3))
    if len(points) == 0:
        raise ValueError("source_points is empty: at least one source point is needed")
    if neighbours < 1:
        raise ValueError(f"neighbours must be at least 1, not {neighbours}")
    count = min(neighbours, len(points))
    distances = np.linalg.norm(landmarks[:, None, :2] - points[None, :, :2], axis=-1)     # (68,N)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :count]
    near = np.maximum(np.take_along_axis(distances, nearest, axis=1), COINCIDENT_M)
    weights = 1.0 / near ** 2
    weights /= weights.sum(axis=1, keepdims=True)
    return (weights[..., None] * offsets[nearest]).sum(axis=1)


# ---------------------------------------------------------------------------------------------------------------
# FLAME facts read from the model


def jaw_opening_sign(model: FlameModel, shape_code: torch.Tensor) -> float:
    """+1 if a positive jaw rotation about x opens the mouth (moves the chin down, −y), else −1: the vertices the
    rotation moves most are the chin's."""
    shape = _checked_shape_code(model, shape_code)
    pose = shape.new_zeros(1, 6)
    pose[0, 3] = 0.1
    with torch.no_grad():
        neutral = model(shape, shape.new_zeros(1, 1), shape.new_zeros(1, 6)).vertices[0]
        moved = model(shape, shape.new_zeros(1, 1), pose).vertices[0] - neutral
    distance = moved.norm(dim=1)
    chin = distance > 0.5 * distance.max()
    return 1.0 if float(moved[chin, 1].mean()) < 0 else -1.0


def left_eye_slot(model: FlameModel, shape_code: torch.Tensor) -> int:
    """0 if eye_pose[:3] turns the subject's left eye (the eye joint at larger x, the subject's left being +x), 1 if
    eye_pose[3:] does."""
    shape = _checked_shape_code(model, shape_code)
    with torch.no_grad():
        joints = model(shape, shape.new_zeros(1, 1), shape.new_zeros(1, 6)).joints[0]
    first, second = EYE_JOINTS
    return 0 if float(joints[first, 0]) > float(joints[second, 0]) else 1


# ---------------------------------------------------------------------------------------------------------------
# Eyes


def eye_look_pose(yaw_rad: float, pitch_rad: float, which: str, *, left_eye_slot: int = 0) -> np.ndarray:
    """FlameModel's eye_pose (6,) that turns an eye's gaze from straight ahead (+z) to the direction yaw_rad towards
    the subject's left (+x) and pitch_rad up (+y): the smallest rotation taking +z there, so the eye does not roll.

    which: "left", "right" or "both" (the subject's own eyes); left_eye_slot: which half of eye_pose turns the left
    eye (see left_eye_slot(); 0 in FLAME). An eyeLookOutLeft is a positive yaw of the left eye, eyeLookInLeft a
    negative one; for the right eye, out is a negative yaw.
    """
    if which not in EYE_SIDES:
        raise ValueError(f"which must be one of {', '.join(EYE_SIDES)} (the subject's own eyes), not {which!r}")
    if left_eye_slot not in (0, 1):
        raise ValueError(f"left_eye_slot must be 0 or 1, not {left_eye_slot!r}")
    gaze = np.array([np.sin(yaw_rad) * np.cos(pitch_rad), np.sin(pitch_rad), np.cos(yaw_rad) * np.cos(pitch_rad)])
    axis = np.cross([0.0, 0.0, 1.0], gaze)
    sine = np.linalg.norm(axis)
    angle = np.arctan2(sine, gaze[2])
    rotation = np.zeros(3) if sine < 1e-12 else axis / sine * angle
    pose = np.zeros(6)
    left, right = (slice(0, 3), slice(3, 6)) if left_eye_slot == 0 else (slice(3, 6), slice(0, 3))
    if which in ("left", "both"):
        pose[left] = rotation
    if which in ("right", "both"):
        pose[right] = rotation
    return pose


# ---------------------------------------------------------------------------------------------------------------
# The landmarks as a function of expression and jaw


class FlameLandmarkRig:
    """The 68 full-embedding landmarks (FlameOutput.landmarks3d) of one identity as a function of the expression code
    and the jaw rotation, root, neck and eyes at rest: FLAME's blend shapes, pose correctives and skinning computed on
    only the (≤204) vertices the landmarks sit on, in float64, with a rotation whose derivative is exact at zero
    (lbs.rodrigues's is zero there, which would stall a fit starting from a closed jaw)."""

    def __init__(self, model: FlameModel, shape_code: torch.Tensor):
        shape = _checked_shape_code(model, shape_code).to(torch.float64)
        identity_count = model.shape_components
        shape = torch.cat([shape, shape.new_zeros(1, identity_count - shape.shape[1])], dim=1)
        shapedirs = model.shapedirs.to(torch.float64)
        shaped = model.v_template.to(torch.float64) + lbs.blend_shapes(shape, shapedirs[:, :, :identity_count])[0]
        expression_dirs = shapedirs[:, :, identity_count:]
        regressor = model.j_regressor.to(torch.float64)
        used, corners = torch.unique(model.faces[model.full_face_ids], return_inverse=True)
        feature_count = model.posedirs.shape[0]
        self.expression_count = model.expression_components
        self.joint_count = model.joint_count
        self.rest_vertices = shaped[used]
        self.expression_dirs = expression_dirs[used]
        # Expressions move the joints too: the regressor is linear, so it applies to the directions.
        self.rest_joints = regressor @ shaped
        self.joint_expression_dirs = torch.einsum("jv,vck->jck", regressor, expression_dirs)
        self.posedirs = model.posedirs.to(torch.float64).reshape(feature_count, -1, 3)[:, used].reshape(
            feature_count, -1)
        self.weights = model.lbs_weights.to(torch.float64)[used]
        self.parents = model.parents
        self.corners = corners                                              # (68,3) into the used vertices
        self.barycentrics = model.full_barycentrics.to(torch.float64)       # (68,3)

    def landmarks(self, expression: torch.Tensor, jaw_pose: torch.Tensor) -> torch.Tensor:
        """expression (B,E) float64, jaw_pose (B,3) axis-angle → (B,68,3) metres."""
        vertices = self.rest_vertices + lbs.blend_shapes(expression, self.expression_dirs)
        joints = self.rest_joints + lbs.blend_shapes(expression, self.joint_expression_dirs)
        rotations = self._rotations(jaw_pose)
        corrected = vertices + lbs.pose_corrective_offsets(rotations, self.posedirs)
        _, transforms = lbs.rigid_chain(rotations, joints, self.parents)
        posed = lbs.skin(corrected, transforms, self.weights)
        return (self.barycentrics[..., None] * posed[:, self.corners]).sum(dim=-2)

    def _rotations(self, jaw_pose: torch.Tensor) -> torch.Tensor:
        """(B,J,3,3): identity for every joint but the jaw."""
        identity = torch.eye(3, dtype=jaw_pose.dtype, device=jaw_pose.device).expand(jaw_pose.shape[0], 3, 3)
        per_joint = [identity] * self.joint_count
        per_joint[FlameModel.JAW_JOINT] = smooth_rodrigues(jaw_pose)
        return torch.stack(per_joint, dim=1)


def smooth_rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """(...,3) → (...,3,3) rotation matrices, R = I + sin(a)/a·K + (1 − cos a)/a²·K² with K the cross-product matrix
    of the axis-angle vector itself (not of the unit axis), so R and its derivatives are smooth through zero."""
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis_angle.shape[:-1], 3, 3)
    squared = (axis_angle ** 2).sum(dim=-1)
    small = squared < SMALL_ANGLE_SQUARED
    angle = torch.sqrt(torch.where(small, torch.ones_like(squared), squared))
    sin_term = torch.where(small, 1 - squared / 6, torch.sin(angle) / angle)
    cos_term = torch.where(small, 0.5 - squared / 24, (1 - torch.cos(angle)) / angle ** 2)
    identity = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return identity + sin_term[..., None, None] * cross + cos_term[..., None, None] * (cross @ cross)


# ---------------------------------------------------------------------------------------------------------------
# Fitting


def solve_flame_expression(model: FlameModel, shape_code: torch.Tensor, target_offsets: np.ndarray, *,
                           landmark_weights: np.ndarray | None = None, expression_prior: float = 1e-2,
                           jaw: bool = True, jaw_prior: JawPrior = JawPrior(),
                           max_iterations: int = 30) -> FlamePoseFit:
    """The expression code and jaw rotation that move the 68 landmarks (landmarks3d) by target_offsets.

    shape_code: (1,S) the identity; target_offsets: (68,3) metres, from the neutral landmarks; landmark_weights:
    (68,) ≥ 0, all 1 when None. Minimises  Σ wᵢ|lmᵢ(e, jaw) − lmᵢ(0) − targetᵢ|² / Σ wᵢ  (mm²) + expression_prior·|e|²
    + the jaw prior (see JawPrior), with the jaw held shut when jaw is False. Deterministic.
    """
    return solve_flame_expressions(model, shape_code, _checked_array("target_offsets", target_offsets,
                                                                     (LANDMARK_COUNT, 3))[None],
                                   landmark_weights=landmark_weights, expression_prior=expression_prior, jaw=jaw,
                                   jaw_prior=jaw_prior, max_iterations=max_iterations)[0]


def solve_flame_expressions(model: FlameModel, shape_code: torch.Tensor, target_offsets: np.ndarray, *,
                            landmark_weights: np.ndarray | None = None, expression_prior: float = 1e-2,
                            jaw: bool = True, jaw_prior: JawPrior = JawPrior(),
                            max_iterations: int = 30) -> list[FlamePoseFit]:
    """solve_flame_expression for a batch of independent targets, target_offsets (B,68,3), fitted together."""
    targets = _checked_array("target_offsets", target_offsets, (None, LANDMARK_COUNT, 3))
    weights = _checked_landmark_weights(landmark_weights)
    if not np.isfinite(expression_prior) or expression_prior < 0:
        raise ValueError(f"expression_prior must be a number ≥ 0, not {expression_prior!r}")
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be at least 1, not {max_iterations}")
    shape = _checked_shape_code(model, shape_code)
    rig = FlameLandmarkRig(model, shape)
    residuals = _residual_function(rig, weights, expression_prior, jaw, jaw_prior,
                                   jaw_opening_sign(model, shape) if jaw else 1.0)
    device = shape.device
    with torch.no_grad():
        neutral = rig.landmarks(torch.zeros(1, rig.expression_count, dtype=torch.float64, device=device),
                                torch.zeros(1, 3, dtype=torch.float64, device=device))[0]
    goals_mm = (neutral + torch.tensor(targets, dtype=torch.float64, device=device)) * MM_PER_M
    parameter_count = rig.expression_count + (3 if jaw else 0)
    parameters, iterations = _levenberg_marquardt(residuals, goals_mm, parameter_count, max_iterations)
    expressions = parameters[:, :rig.expression_count]
    jaw_poses = parameters[:, rig.expression_count:] if jaw else torch.zeros(len(targets), 3, dtype=torch.float64)
    return _pose_fits(model, shape, expressions.cpu().numpy(), jaw_poses.cpu().numpy(),
                      np.zeros((len(targets), 6)), targets, weights, iterations)


def _residual_function(rig: FlameLandmarkRig, weights: np.ndarray, expression_prior: float, jaw: bool,
                       jaw_prior: JawPrior, opening_sign: float):
    """residuals(parameters (P,), goal (68,3) mm) → (R,): whose half squared norm is the fit's cost."""
    device = rig.rest_vertices.device
    data_scale = torch.tensor(np.sqrt(weights / weights.sum()), dtype=torch.float64, device=device)[:, None]
    prior_scale = float(np.sqrt(expression_prior))
    closing, over, sideways, twist = (float(np.sqrt(value)) for value in (
        jaw_prior.closing_weight, jaw_prior.over_opening_weight, jaw_prior.sideways_weight, jaw_prior.twist_weight))

    def residuals(parameters: torch.Tensor, goal_mm: torch.Tensor) -> torch.Tensor:
        expression = parameters[:rig.expression_count]
        jaw_pose = parameters[rig.expression_count:] if jaw else parameters.new_zeros(3)
        landmarks_mm = rig.landmarks(expression[None], jaw_pose[None])[0] * MM_PER_M
        terms = [(data_scale * (landmarks_mm - goal_mm)).reshape(-1), prior_scale * expression]
        if jaw:
            opening = opening_sign * jaw_pose[0]
            terms.append(torch.stack([closing * torch.relu(-opening),
                                      over * torch.relu(opening - jaw_prior.max_opening_rad),
                                      sideways * jaw_pose[1], twist * jaw_pose[2]]))
        return torch.cat(terms)

    return residuals


def _levenberg_marquardt(residuals, goals_mm: torch.Tensor, parameter_count: int,
                         max_iterations: int) -> tuple[torch.Tensor, list[int]]:
    """Minimise ½|residuals(p, goal)|² for each goal (B,68,3) independently, all fits batched, starting from p = 0.
    Returns parameters (B,P) and the steps each fit tried."""
    batch = goals_mm.shape[0]
    values = torch.func.vmap(residuals)
    # jacfwd with has_aux hands back the residuals along with their Jacobian.
    jacobians = torch.func.vmap(torch.func.jacfwd(lambda p, goal: (residuals(p, goal),) * 2, has_aux=True))
    parameters = goals_mm.new_zeros(batch, parameter_count)
    cost = 0.5 * (values(parameters, goals_mm) ** 2).sum(dim=1)
    damping = torch.full_like(cost, INITIAL_DAMPING)
    active = torch.ones(batch, dtype=torch.bool, device=goals_mm.device)
    iterations = torch.zeros(batch, dtype=torch.long, device=goals_mm.device)
    for _ in range(max_iterations):
        live = active.nonzero()[:, 0]          # the fits still going: the others are left as they are
        if len(live) == 0:
            break
        current, goals, current_cost = parameters[live], goals_mm[live], cost[live]
        jacobian, residual = jacobians(current, goals)                      # (L,R,P), (L,R)
        normal = jacobian.transpose(1, 2) @ jacobian
        gradient = (jacobian.transpose(1, 2) @ residual[..., None])[..., 0]
        # Marquardt's scaling: damp each parameter by its own curvature, so the step does not depend on units.
        scale = torch.diag_embed(normal.diagonal(dim1=1, dim2=2).clamp_min(1e-12))
        step = torch.linalg.solve(normal + damping[live, None, None] * scale, -gradient[..., None])[..., 0]
        trial = current + step
        trial_cost = 0.5 * (values(trial, goals) ** 2).sum(dim=1)
        better = trial_cost < current_cost
        # A step too small to matter ends a fit whether or not it was kept (a target met exactly has no better one).
        converged = ((better & (current_cost - trial_cost <= RELATIVE_COST_TOLERANCE * current_cost))
                     | (step.abs().amax(dim=1) < STEP_TOLERANCE))
        parameters[live] = torch.where(better[:, None], trial, current)
        cost[live] = torch.where(better, trial_cost, current_cost)
        damping[live] = torch.where(better, damping[live] * DAMPING_DOWN, damping[live] * DAMPING_UP)
        iterations[live] += 1
        active[live] = ~converged & (damping[live] < MAX_DAMPING)
    return parameters, iterations.tolist()


def _pose_fits(model: FlameModel, shape: torch.Tensor, expressions: np.ndarray, jaw_poses: np.ndarray,
               eye_poses: np.ndarray, targets: np.ndarray | None, weights: np.ndarray,
               iterations: list[int]) -> list[FlamePoseFit]:
    """FlamePoseFits for (B,…) parameters: the whole mesh posed by FlameModel itself, errors of its landmarks3d."""
    batch = len(expressions)
    dtype, device = model.v_template.dtype, shape.device

    def tensor(array):
        return torch.tensor(array, dtype=dtype, device=device)

    zero_pose = torch.zeros(batch, 6, dtype=dtype, device=device)
    pose = torch.cat([zero_pose[:, :3], tensor(jaw_poses)], dim=1)
    with torch.no_grad():
        neutral = model(shape.to(dtype), torch.zeros(1, 1, dtype=dtype, device=device), zero_pose[:1])
        posed = model(shape.to(dtype).expand(batch, -1), tensor(expressions), pose, eye_pose=tensor(eye_poses))
    vertex_offsets = (posed.vertices - neutral.vertices).cpu().numpy()
    fits = []
    for index in range(batch):
        if targets is None:
            mean_error = max_error = 0.0
        else:
            moved = (posed.landmarks3d[index] - neutral.landmarks3d[0]).cpu().numpy()
            errors = np.linalg.norm(moved - targets[index], axis=1)[weights > 0]
            mean_error, max_error = float(errors.mean()), float(errors.max())
        fits.append(FlamePoseFit(expression=expressions[index].astype(np.float64),
                                 jaw_pose=jaw_poses[index].astype(np.float64),
                                 eye_pose=eye_poses[index].astype(np.float64), vertex_offsets=vertex_offsets[index],
                                 landmark_error_mean_m=mean_error, landmark_error_max_m=max_error,
                                 iterations=int(iterations[index])))
    return fits


# ---------------------------------------------------------------------------------------------------------------
# A whole rig


def solve_arkit_shapes(model: FlameModel, shape_code: torch.Tensor, targets: dict[str, np.ndarray],
                       eye_angles: dict[str, tuple[float, float, str]], *, landmark_weights: np.ndarray | None = None,
                       expression_prior: float = 1e-2, jaw_prior: JawPrior = JawPrior(),
                       max_iterations: int = 30) -> dict[str, FlamePoseFit]:
    """One FlamePoseFit per ARKit shape: targets {name: (68,3) landmark offsets, metres} are fitted with expression
    and jaw (all together), eye_angles {name: (yaw_rad, pitch_rad, "left"|"right"|"both")} become eye rotations
    (eye_look_pose, with the model's own left eye). Names are ARKit's, each in one of the two dicts; the result is in
    ARKIT_SHAPES order."""
    for what, names in (("targets", targets), ("eye_angles", eye_angles)):
        unknown = [name for name in names if name not in ARKIT_SHAPES]
        if unknown:
            raise ValueError(f"{what}: {', '.join(map(repr, unknown))} not among the 52 ARKit blendshape names")
    both = sorted(set(targets) & set(eye_angles))
    if both:
        raise ValueError(f"{', '.join(both)} given both a landmark target and eye angles; give each shape one")
    shape = _checked_shape_code(model, shape_code)
    fits: dict[str, FlamePoseFit] = {}
    if targets:
        names = list(targets)
        stacked = np.stack([_checked_array(f"targets[{name!r}]", targets[name], (LANDMARK_COUNT, 3))
                            for name in names])
        solved = solve_flame_expressions(model, shape, stacked, landmark_weights=landmark_weights,
                                         expression_prior=expression_prior, jaw_prior=jaw_prior,
                                         max_iterations=max_iterations)
        fits.update(zip(names, solved, strict=True))
    if eye_angles:
        fits.update(_eye_fits(model, shape, eye_angles))
    return {name: fits[name] for name in ARKIT_SHAPES if name in fits}


def _eye_fits(model: FlameModel, shape: torch.Tensor,
              eye_angles: dict[str, tuple[float, float, str]]) -> dict[str, FlamePoseFit]:
    slot = left_eye_slot(model, shape)
    poses = []
    for name, angles in eye_angles.items():
        if not isinstance(angles, (tuple, list)) or len(angles) != 3:
            raise ValueError(f"eye_angles[{name!r}] must be (yaw_rad, pitch_rad, which), not {angles!r}")
        yaw, pitch, which = angles
        poses.append(eye_look_pose(float(yaw), float(pitch), which, left_eye_slot=slot))
    count = len(poses)
    fits = _pose_fits(model, shape, np.zeros((count, model.expression_components)), np.zeros((count, 3)),
                      np.stack(poses), None, np.ones(LANDMARK_COUNT), [0] * count)
    return dict(zip(eye_angles, fits, strict=True))


# ---------------------------------------------------------------------------------------------------------------
# Checks


def _checked_array(name: str, value, shape: tuple) -> np.ndarray:
    """value as a finite float64 array of `shape` (None: any length), or a ValueError naming it."""
    array = np.asarray(value, dtype=np.float64)
    sizes = ["N" if size is None else str(size) for size in shape]
    expected = "(" + ", ".join(sizes) + ("," if len(sizes) == 1 else "") + ")"
    if array.ndim != len(shape) or any(size is not None and size != actual
                                       for size, actual in zip(shape, array.shape, strict=True)):
        raise ValueError(f"{name} must have shape {expected}, got {tuple(array.shape)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def _checked_landmark_weights(landmark_weights) -> np.ndarray:
    if landmark_weights is None:
        return np.ones(LANDMARK_COUNT)
    weights = _checked_array("landmark_weights", landmark_weights, (LANDMARK_COUNT,))
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("landmark_weights must be ≥ 0 with at least one positive")
    return weights


def _checked_shape_code(model: FlameModel, shape_code) -> torch.Tensor:
    limit = model.shape_components
    if not isinstance(shape_code, torch.Tensor):
        raise ValueError(f"shape_code must be a torch tensor of shape (1, S≤{limit}), got {type(shape_code).__name__}")
    if shape_code.ndim != 2 or shape_code.shape[0] != 1 or not 0 < shape_code.shape[1] <= limit:
        raise ValueError(f"shape_code must have shape (1, S≤{limit}), got {tuple(shape_code.shape)}")
    return shape_code.detach().to(device=model.v_template.device, dtype=model.v_template.dtype)
