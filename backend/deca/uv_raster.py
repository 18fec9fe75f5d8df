"""The FLAME UV layout rasterised once, and everything that reads the photo into it.

Texel (row r, column c) of a T² UV image is the point u = (c+0.5)/T, v = 1-(r+0.5)/T (OBJ convention: v up, image row 0
at the top), which is where DECA's UV maps (face-eye mask, displacements, textures) put it. Each texel covered by a UV
triangle gets that triangle's face id and its barycentric coordinates; any per-vertex quantity (positions, projected
positions, normals) then becomes a UV image by one weighted sum — no differentiable renderer needed for inference.
"""
from dataclasses import dataclass

import cv2
import numpy as np
import torch

# Texel centres this far outside a triangle (in barycentric units) still count as inside: shared edges leave no gaps.
INSIDE_TOLERANCE = 1e-6
# Photos are pre-shrunk (area averaging) to at most this many pixels per crop pixel before bilinear sampling, so a
# large photo does not alias into the texture.
MAX_PHOTO_PX_PER_CROP_PX = 2.0
NO_ALBEDO_GREY = 0.7
_REMAP_ROW = 1024


@dataclass(frozen=True)
class UvRaster:
    """Which triangle, and where in it, each texel of a size² UV image lies."""
    size: int
    face_ids: np.ndarray
    """(T,T) int64, -1 where no triangle covers the texel."""
    barycentrics: np.ndarray
    """(T,T,3) float32, 0 where uncovered."""

    @property
    def covered(self) -> np.ndarray:
        """(T,T) bool."""
        return self.face_ids >= 0

    @property
    def texels(self) -> np.ndarray:
        """(N,) flat indices (row-major) of the covered texels."""
        return np.flatnonzero(self.face_ids.ravel() >= 0)


def rasterize_uv_layout(uvs: np.ndarray, face_uvs: np.ndarray, size: int) -> UvRaster:
    """Face id and barycentrics per texel of a UV layout.

    uvs: (N,2) in [0,1], v up; face_uvs: (F,3) indices into uvs. Where triangles overlap, the later face wins.
    """
    corners = texel_coordinates(np.asarray(uvs, dtype=np.float64), size)[np.asarray(face_uvs)]  # (F,3,2)
    low = np.clip(np.ceil(corners.min(axis=1) - INSIDE_TOLERANCE), 0, size).astype(np.int64)
    high = np.clip(np.floor(corners.max(axis=1) + INSIDE_TOLERANCE), -1, size - 1).astype(np.int64)
    spans = np.maximum(high - low + 1, 0)                               # (F,2) columns, rows
    counts = spans[:, 0] * spans[:, 1]
    face = np.repeat(np.arange(len(corners)), counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    xs = low[face, 0] + local % np.maximum(spans[face, 0], 1)
    ys = low[face, 1] + local // np.maximum(spans[face, 0], 1)
    weights = _barycentrics(corners[face], np.stack([xs, ys], axis=1).astype(np.float64))
    inside = np.isfinite(weights).all(axis=1) & (weights >= -INSIDE_TOLERANCE).all(axis=1)
    face_ids = np.full((size, size), -1, dtype=np.int64)
    barycentrics = np.zeros((size, size, 3), dtype=np.float32)
    face_ids[ys[inside], xs[inside]] = face[inside]
    barycentrics[ys[inside], xs[inside]] = weights[inside]
    return UvRaster(size=size, face_ids=face_ids, barycentrics=barycentrics)


def texel_coordinates(uvs: np.ndarray, size: int) -> np.ndarray:
    """(N,2) UVs → (N,2) continuous texel coordinates (x = column, y = row, texel centres at integers)."""
    return np.stack([uvs[:, 0] * size - 0.5, (1.0 - uvs[:, 1]) * size - 0.5], axis=1)


def _barycentrics(triangles: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(K,3,2) triangles and (K,2) points → (K,3) barycentric coordinates (NaN for degenerate triangles)."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    v0, v1, v2 = b - a, c - a, points - a
    area = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = (v2[:, 0] * v1[:, 1] - v2[:, 1] * v1[:, 0]) / area
        gamma = (v0[:, 0] * v2[:, 1] - v0[:, 1] * v2[:, 0]) / area
    weights = np.stack([1.0 - beta - gamma, beta, gamma], axis=1)
    weights[np.abs(area) < 1e-12] = np.nan
    return weights


# ---------------------------------------------------------------------------------------------------------------
# Per-vertex values into UV space


@dataclass(frozen=True)
class UvSampler:
    """The covered texels of a UvRaster as tensors, for interpolating per-vertex values (torch, batched)."""
    size: int
    texels: torch.Tensor
    """(N,) long flat texel indices."""
    corners: torch.Tensor
    """(N,3) long vertex indices of each texel's triangle."""
    barycentrics: torch.Tensor
    """(N,3) float."""

    @classmethod
    def from_raster(cls, raster: UvRaster, faces: np.ndarray, device=None, dtype=torch.float32) -> "UvSampler":
        """faces: (F,3) vertex indices of the triangles the raster's face ids refer to."""
        texels = raster.texels
        face_ids = raster.face_ids.ravel()[texels]
        return cls(size=raster.size, texels=torch.as_tensor(texels, device=device),
                   corners=torch.as_tensor(np.asarray(faces)[face_ids], dtype=torch.long, device=device),
                   barycentrics=torch.as_tensor(raster.barycentrics.reshape(-1, 3)[texels], dtype=dtype,
                                                device=device))

    def interpolate(self, values: torch.Tensor) -> torch.Tensor:
        """(B,V,C) per-vertex values → (B,N,C) at the covered texels."""
        return (values[:, self.corners] * self.barycentrics[None, :, :, None]).sum(dim=2)

    def to_image(self, texel_values: torch.Tensor, background: float = 0.0) -> torch.Tensor:
        """(B,N,C) values at the covered texels → (B,T,T,C) image, background elsewhere."""
        batch, _, channels = texel_values.shape
        image = texel_values.new_full((batch, self.size * self.size, channels), background)
        image[:, self.texels] = texel_values
        return image.reshape(batch, self.size, self.size, channels)


# ---------------------------------------------------------------------------------------------------------------
# The photo into UV space


def sample_photo(photo: np.ndarray, points_px: np.ndarray, max_px_per_sample: float | None = None) -> np.ndarray:
    """Bilinear colours of an (H,W,3) uint8 photo at (...,2) pixel positions (x, y; centres at integers).

    max_px_per_sample: when the samples are this many photo pixels apart or more, the photo is first shrunk by area
    averaging so it does not alias. Outside the photo the border colour repeats. Returns (...,3) float32 in [0,1].
    """
    points = np.asarray(points_px, dtype=np.float64)
    source = photo
    if max_px_per_sample is not None and max_px_per_sample > MAX_PHOTO_PX_PER_CROP_PX:
        factor = MAX_PHOTO_PX_PER_CROP_PX / max_px_per_sample
        source = cv2.resize(photo, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        points = (points + 0.5) * np.array([source.shape[1] / photo.shape[1], source.shape[0] / photo.shape[0]]) - 0.5
    # cv2.remap takes maps of fewer than 2^15 rows and columns: lay the points out in rows of _REMAP_ROW.
    flat = points.reshape(-1, 2).astype(np.float32)
    count = len(flat)
    padded = np.zeros((-(-count // _REMAP_ROW) * _REMAP_ROW, 2), dtype=np.float32)
    padded[:count] = flat
    grid = padded.reshape(-1, _REMAP_ROW, 2)
    colours = cv2.remap(source, grid[..., 0], grid[..., 1], interpolation=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    return colours.reshape(-1, 3)[:count].reshape(*points.shape[:-1], 3).astype(np.float32) / 255.0


def blend_into_texture(photo_colours: np.ndarray, covered: np.ndarray, face_eye_mask: np.ndarray,
                       fallback: np.ndarray) -> np.ndarray:
    """DECA's texture: the photo's colours where the face-eye mask is, the fallback (albedo, or grey) elsewhere.

    photo_colours: (T,T,3) float in [0,1] (anything where uncovered); covered: (T,T) bool; face_eye_mask: (T,T) in
    [0,1]; fallback: (T,T,3) float in [0,1]. Returns (T,T,3) uint8.
    """
    weight = (face_eye_mask * covered)[..., None]
    texture = weight * photo_colours + (1.0 - weight) * fallback
    return np.round(np.clip(texture, 0.0, 1.0) * 255.0).astype(np.uint8)


def grey_texture(size: int) -> np.ndarray:
    """(T,T,3) float32 NO_ALBEDO_GREY: DECA's stand-in albedo without an albedo model."""
    return np.full((size, size, 3), NO_ALBEDO_GREY, dtype=np.float32)


# ---------------------------------------------------------------------------------------------------------------
# The dense detail mesh


@dataclass(frozen=True)
class DenseTopology:
    """One vertex per covered texel, triangles between neighbouring texels (the dense detail mesh's topology)."""
    texels: np.ndarray
    """(N,) flat texel indices, one per dense vertex."""
    faces: np.ndarray
    """(M,3) int32 indices into the dense vertices."""
    uvs: np.ndarray
    """(N,2) float32 texel-centre UVs, v up."""


def dense_topology(raster: UvRaster, uvs: np.ndarray, face_uvs: np.ndarray) -> DenseTopology:
    """Grid triangulation of the covered texels: two triangles per 2x2 block of covered texels, one (of the three
    covered corners) where a block misses one corner. Triangles are wound like the UV triangle under them (mirrored
    UV islands are flipped)."""
    size = raster.size
    covered = raster.covered
    index = np.full((size, size), -1, dtype=np.int64)
    texels = raster.texels
    index.ravel()[texels] = np.arange(len(texels))
    top_left, top_right = index[:-1, :-1], index[:-1, 1:]
    bottom_left, bottom_right = index[1:, :-1], index[1:, 1:]
    # Counter-clockwise in (u, v-up) for an unmirrored island: rows grow downwards, so (r,c)→(r+1,c)→(r,c+1).
    candidates = np.concatenate([
        np.stack([top_left, bottom_left, top_right], axis=-1).reshape(-1, 3),
        np.stack([top_right, bottom_left, bottom_right], axis=-1).reshape(-1, 3),
        # the two splits of the other diagonal, used only for blocks missing one corner
        np.stack([top_left, bottom_left, bottom_right], axis=-1).reshape(-1, 3),
        np.stack([top_left, bottom_right, top_right], axis=-1).reshape(-1, 3)])
    full_block = (covered[:-1, :-1] & covered[:-1, 1:] & covered[1:, :-1] & covered[1:, 1:]).reshape(-1)
    everywhere = np.ones_like(full_block)
    keep = np.concatenate([everywhere, everywhere, ~full_block, ~full_block]) & (candidates >= 0).all(axis=1)
    faces = candidates[keep]
    corners = texel_coordinates(np.asarray(uvs, dtype=np.float64), size)[np.asarray(face_uvs)]
    mirrored = _signed_area(corners) > 0  # y (rows) points down: an unmirrored island has negative area here
    first_face = raster.face_ids.ravel()[texels[faces[:, 0]]]
    flip = mirrored[first_face]
    faces[flip] = faces[flip][:, [0, 2, 1]]
    rows, columns = np.divmod(texels, size)
    dense_uvs = np.stack([(columns + 0.5) / size, 1.0 - (rows + 0.5) / size], axis=1)
    return DenseTopology(texels=texels, faces=faces.astype(np.int32), uvs=dense_uvs.astype(np.float32))


def _signed_area(triangles: np.ndarray) -> np.ndarray:
    """(F,3,2) → (F,) twice the signed area."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
