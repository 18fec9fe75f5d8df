"""FLAME's maths as pure torch functions: blend shapes, joints, Rodrigues, the kinematic chain, linear blend skinning
and landmarks. Tensors in, tensors out; no state, no files, no device of their own.

Shapes: B batch, V vertices, J joints, K blend-shape components, F faces, L landmarks.
"""
import math

import torch

# Poses whose rotation angle is below this are treated as axis-less (the axis is 0/EPS = 0, so R = I exactly).
ANGLE_EPS = 1e-8
# Rows of the dynamic contour table: yaw 0..39 degrees one way, then 40..78 the other way.
CONTOUR_YAW_LIMIT = 39
CONTOUR_ROWS = 79


def rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices from axis-angle vectors.

    axis_angle: (...,3) radians, the direction is the axis. Returns (...,3,3).
    """
    angle = axis_angle.norm(dim=-1, keepdim=True)
    axis = axis_angle / angle.clamp_min(ANGLE_EPS)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis.shape[:-1], 3, 3)
    sin = torch.sin(angle)[..., None]
    one_minus_cos = (1 - torch.cos(angle))[..., None]
    identity = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return identity + sin * cross + one_minus_cos * (cross @ cross)


def blend_shapes(coefficients: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Offsets of a linear shape space.

    coefficients: (B,K); directions: (V,3,K). Returns (B,V,3).
    """
    return torch.einsum("bk,vck->bvc", coefficients, directions)


def regress_joints(regressor: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """Joint positions as fixed linear combinations of vertices.

    regressor: (J,V); vertices: (B,V,3). Returns (B,J,3).
    """
    return torch.einsum("jv,bvc->bjc", regressor, vertices)


def pose_corrective_offsets(rotations: torch.Tensor, posedirs: torch.Tensor) -> torch.Tensor:
    """Pose-dependent corrective offsets, driven by every joint's rotation but the root's.

    rotations: (B,J,3,3); posedirs: ((J-1)*9, V*3), rows ordered joint-major then matrix row-major.
    Returns (B,V,3).
    """
    batch = rotations.shape[0]
    identity = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
    pose_feature = (rotations[:, 1:] - identity).reshape(batch, -1)
    return (pose_feature @ posedirs).reshape(batch, -1, 3)


def rigid_chain(rotations: torch.Tensor, joints: torch.Tensor, parents: torch.Tensor) -> tuple[torch.Tensor,
                                                                                                  torch.Tensor]:
    """Walk the kinematic tree: world transforms of every joint.

    rotations: (B,J,3,3) local rotations; joints: (B,J,3) rest positions; parents: (J,) int, parents[0] = -1 and
    parents[j] < j. Returns posed_joints (B,J,3) and skinning transforms (B,J,4,4) that map a rest-pose point
    attached to joint j to its posed position (the rest position of the joint is already taken out).
    """
    batch, count = joints.shape[:2]
    offsets = joints.clone()
    offsets[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
    local = _homogeneous(rotations, offsets)
    world = [local[:, 0]]
    for joint in range(1, count):
        world.append(world[int(parents[joint])] @ local[:, joint])
    world = torch.stack(world, dim=1)
    posed_joints = world[:, :, :3, 3]
    # T·(p − j_rest) = T·p − R·j_rest: shift each transform's translation by its rotated rest position.
    rest_in_world = (world[:, :, :3, :3] @ joints[..., None])[..., 0]
    skinning = world.clone()
    skinning[:, :, :3, 3] = posed_joints - rest_in_world
    return posed_joints, skinning


def skin(vertices: torch.Tensor, transforms: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Linear blend skinning.

    vertices: (B,V,3) rest-pose; transforms: (B,J,4,4); weights: (V,J), rows summing to 1. Returns (B,V,3).
    """
    blended = torch.einsum("vj,bjrc->bvrc", weights, transforms)
    return (blended[..., :3, :3] @ vertices[..., None])[..., 0] + blended[..., :3, 3]


def lbs(betas: torch.Tensor, full_pose: torch.Tensor, template: torch.Tensor, shapedirs: torch.Tensor,
        posedirs: torch.Tensor, joint_regressor: torch.Tensor, parents: torch.Tensor,
        weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shape, pose-correct and skin a template.

    betas: (B,K) shape then expression coefficients; full_pose: (B,J*3) axis-angle per joint; template: (V,3);
    shapedirs: (V,3,K); posedirs: ((J-1)*9, V*3); joint_regressor: (J,V); parents: (J,); weights: (V,J).
    Returns vertices (B,V,3), posed joints (B,J,3) and the local rotations (B,J,3,3).
    """
    batch = betas.shape[0]
    shaped = template + blend_shapes(betas, shapedirs)
    joints = regress_joints(joint_regressor, shaped)
    rotations = rodrigues(full_pose.reshape(batch, -1, 3))
    corrected = shaped + pose_corrective_offsets(rotations, posedirs)
    posed_joints, transforms = rigid_chain(rotations, joints, parents)
    return skin(corrected, transforms, weights), posed_joints, rotations


def barycentric_points(vertices: torch.Tensor, faces: torch.Tensor, face_ids: torch.Tensor,
                       barycentrics: torch.Tensor) -> torch.Tensor:
    """Points given by a face and barycentric coordinates on a posed mesh.

    vertices: (B,V,3); faces: (F,3) int; face_ids: (B,L) int; barycentrics: (B,L,3). Returns (B,L,3).
    """
    corners = faces[face_ids]                                  # (B,L,3)
    batch_index = torch.arange(vertices.shape[0], device=vertices.device)[:, None, None]
    corner_positions = vertices[batch_index, corners]           # (B,L,3,3)
    return (barycentrics[..., None] * corner_positions).sum(dim=-2)


def contour_rows(rotations: torch.Tensor, neck_chain: tuple[int, ...] = (1, 0)) -> torch.Tensor:
    """Which row of the dynamic contour table fits the head's yaw.

    rotations: (B,J,3,3) local rotations; neck_chain: joints from the neck up to the root. The head's rotation
    relative to the camera is R_root·R_neck; its yaw in whole degrees picks the row: 0..39 as is, a negative yaw
    -1..-39 maps to 40..78, beyond -39 to 78. Returns (B,) long.
    """
    relative = torch.eye(3, dtype=rotations.dtype, device=rotations.device).expand(rotations.shape[0], 3, 3)
    for joint in neck_chain:
        relative = rotations[:, joint] @ relative
    # The yaw of the neck chain's rotation, the sign DECA's FLAME uses (read there, not copied):
    # atan2(−R20, √(R00²+R10²)).
    yaw = torch.atan2(-relative[:, 2, 0], torch.sqrt(relative[:, 0, 0] ** 2 + relative[:, 1, 0] ** 2))
    yaw = torch.round(torch.clamp(yaw * (180.0 / math.pi), max=CONTOUR_YAW_LIMIT)).long()
    rows = torch.where(yaw < 0, CONTOUR_YAW_LIMIT - yaw, yaw)
    return rows.clamp(max=CONTOUR_ROWS - 1)


def landmarks_68(vertices: torch.Tensor, faces: torch.Tensor, rotations: torch.Tensor,
                 static_face_ids: torch.Tensor, static_barycentrics: torch.Tensor, dynamic_face_ids: torch.Tensor,
                 dynamic_barycentrics: torch.Tensor) -> torch.Tensor:
    """The 68 image landmarks: 17 contour points that follow the head's yaw, then 51 fixed points.

    vertices: (B,V,3) posed; faces: (F,3); rotations: (B,J,3,3); static_face_ids: (51,); static_barycentrics:
    (51,3); dynamic_face_ids: (79,17); dynamic_barycentrics: (79,17,3). Returns (B,68,3).
    """
    batch = vertices.shape[0]
    rows = contour_rows(rotations)
    face_ids = torch.cat([dynamic_face_ids[rows], static_face_ids.expand(batch, -1)], dim=1)
    barycentrics = torch.cat([dynamic_barycentrics[rows], static_barycentrics.expand(batch, -1, -1)], dim=1)
    return barycentric_points(vertices, faces, face_ids, barycentrics)


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unit vertex normals, the area-weighted mean of the adjacent faces' normals.

    vertices: (B,V,3); faces: (F,3) counter-clockwise seen from outside. Returns (B,V,3).
    """
    corners = vertices[:, faces]                                      # (B,F,3,3)
    face_normals = torch.cross(corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0], dim=-1)
    normals = torch.zeros_like(vertices)
    for corner in range(3):
        normals.index_add_(1, faces[:, corner], face_normals)
    return torch.nn.functional.normalize(normals, dim=-1, eps=1e-12)


def _homogeneous(rotations: torch.Tensor, translations: torch.Tensor) -> torch.Tensor:
    """(B,J,3,3) and (B,J,3) → (B,J,4,4)."""
    top = torch.cat([rotations, translations[..., None]], dim=-1)
    bottom = torch.zeros(*rotations.shape[:-2], 1, 4, dtype=rotations.dtype, device=rotations.device)
    bottom[..., 0, 3] = 1
    return torch.cat([top, bottom], dim=-2)
