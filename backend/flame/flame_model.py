"""The FLAME head model as a torch module: arrays from backend.flame.assets in buffers, maths from
backend.flame.lbs. Built from already-loaded arrays, never from a path."""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from backend.flame import lbs
from backend.flame.assets import FlameArrays, LandmarkEmbedding


@dataclass
class FlameOutput:
    vertices: torch.Tensor
    """(B,V,3) posed vertices, metres."""
    landmarks2d: torch.Tensor
    """(B,68,3) the image landmarks: 17 yaw-dependent contour points, then 51 fixed points."""
    landmarks3d: torch.Tensor
    """(B,68,3) the full 68-point embedding."""
    joints: torch.Tensor
    """(B,J,3) posed joints."""


class FlameModel(nn.Module):
    """FLAME with a chosen number of identity and expression components (DECA uses 100 and 50)."""
    SHAPE_SPACE_DIM = 300
    EXPRESSION_SPACE_DIM = 100
    NECK_JOINT, JAW_JOINT = 1, 2

    def __init__(self, flame: FlameArrays, landmarks: LandmarkEmbedding, shape_components: int = 100,
                 expression_components: int = 50):
        super().__init__()
        stored = flame.shapedirs.shape[-1]
        if stored != self.SHAPE_SPACE_DIM + self.EXPRESSION_SPACE_DIM:
            raise ValueError(f"FLAME shapedirs has {stored} components, expected "
                             f"{self.SHAPE_SPACE_DIM} identity + {self.EXPRESSION_SPACE_DIM} expression")
        if not 0 < shape_components <= self.SHAPE_SPACE_DIM:
            raise ValueError(f"shape_components must be 1..{self.SHAPE_SPACE_DIM}, not {shape_components}")
        if not 0 < expression_components <= self.EXPRESSION_SPACE_DIM:
            raise ValueError(f"expression_components must be 1..{self.EXPRESSION_SPACE_DIM}, "
                             f"not {expression_components}")
        self.shape_components = shape_components
        self.expression_components = expression_components
        self.joint_count = len(flame.parents)
        shapedirs = np.concatenate([
            flame.shapedirs[:, :, :shape_components],
            flame.shapedirs[:, :, self.SHAPE_SPACE_DIM:self.SHAPE_SPACE_DIM + expression_components]], axis=2)
        posedirs = flame.posedirs.reshape(-1, flame.posedirs.shape[-1]).T  # ((J-1)*9, V*3)

        def floats(array):
            return torch.tensor(np.ascontiguousarray(array), dtype=torch.float32)

        def longs(array):
            return torch.tensor(np.ascontiguousarray(array), dtype=torch.long)

        self.register_buffer("v_template", floats(flame.v_template))
        self.register_buffer("shapedirs", floats(shapedirs))
        self.register_buffer("posedirs", floats(posedirs))
        self.register_buffer("j_regressor", floats(flame.j_regressor))
        self.register_buffer("parents", longs(flame.parents))
        self.register_buffer("lbs_weights", floats(flame.weights))
        self.register_buffer("faces", longs(flame.faces))
        self.register_buffer("static_face_ids", longs(landmarks.static_face_ids))
        self.register_buffer("static_barycentrics", floats(landmarks.static_barycentrics))
        self.register_buffer("dynamic_face_ids", longs(landmarks.dynamic_face_ids))
        self.register_buffer("dynamic_barycentrics", floats(landmarks.dynamic_barycentrics))
        self.register_buffer("full_face_ids", longs(landmarks.full_face_ids))
        self.register_buffer("full_barycentrics", floats(landmarks.full_barycentrics))

    def forward(self, shape: torch.Tensor, expression: torch.Tensor, pose: torch.Tensor,
                neck_pose: torch.Tensor | None = None, eye_pose: torch.Tensor | None = None) -> FlameOutput:
        """Posed FLAME meshes and landmarks.

        shape: (B,S) identity coefficients, S ≤ shape_components (zero-padded); expression: (B,E), E ≤
        expression_components (zero-padded); pose: (B,6) global axis-angle then jaw axis-angle; neck_pose: (B,3)
        and eye_pose: (B,6), zero when None.
        """
        batch = shape.shape[0]
        self._check_codes(shape, expression, pose, batch)
        betas = torch.cat([_padded(shape, self.shape_components), _padded(expression, self.expression_components)],
                          dim=1)
        zeros = pose.new_zeros(batch, 3)
        neck_pose = zeros if neck_pose is None else neck_pose
        eye_pose = pose.new_zeros(batch, 6) if eye_pose is None else eye_pose
        full_pose = torch.cat([pose[:, :3], neck_pose, pose[:, 3:], eye_pose], dim=1)  # root, neck, jaw, eyes
        vertices, joints, rotations = lbs.lbs(betas, full_pose, self.v_template, self.shapedirs, self.posedirs,
                                              self.j_regressor, self.parents, self.lbs_weights)
        landmarks2d = lbs.landmarks_68(vertices, self.faces, rotations, self.static_face_ids,
                                       self.static_barycentrics, self.dynamic_face_ids, self.dynamic_barycentrics)
        landmarks3d = lbs.barycentric_points(vertices, self.faces, self.full_face_ids.expand(batch, -1),
                                             self.full_barycentrics.expand(batch, -1, -1))
        return FlameOutput(vertices=vertices, landmarks2d=landmarks2d, landmarks3d=landmarks3d, joints=joints)

    def _check_codes(self, shape, expression, pose, batch: int) -> None:
        for name, value, limit in (("shape", shape, self.shape_components),
                                   ("expression", expression, self.expression_components)):
            if value.ndim != 2 or value.shape[0] != batch or value.shape[1] > limit:
                raise ValueError(f"FLAME {name} codes must have shape (B, ≤{limit}) with B={batch}, "
                                 f"got {tuple(value.shape)}")
        if pose.shape != (batch, 6):
            raise ValueError(f"FLAME pose must have shape ({batch}, 6) (global then jaw axis-angle), "
                             f"got {tuple(pose.shape)}")


def _padded(codes: torch.Tensor, width: int) -> torch.Tensor:
    if codes.shape[1] == width:
        return codes
    return torch.cat([codes, codes.new_zeros(codes.shape[0], width - codes.shape[1])], dim=1)
