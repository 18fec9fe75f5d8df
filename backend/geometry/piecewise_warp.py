"""Piecewise-affine image warping driven by matching point sets (landmarks plus border anchors)."""
import cv2
import numpy as np
from scipy.spatial import Delaunay


def border_anchors(width: int, height: int, per_side: int = 4) -> np.ndarray:
    """(4·per_side,2) points spaced along an image's border, corners included."""
    steps = np.linspace(0.0, 1.0, per_side + 1)[:-1]
    w, h = width - 1, height - 1
    top = np.column_stack([steps * w, np.zeros_like(steps)])
    right = np.column_stack([np.full_like(steps, w), steps * h])
    bottom = np.column_stack([w - steps * w, np.full_like(steps, h)])
    left = np.column_stack([np.zeros_like(steps), h - steps * h])
    return np.concatenate([top, right, bottom, left])


def warp_piecewise_affine(image: np.ndarray, source_points: np.ndarray, target_points: np.ndarray,
                          output_size: tuple[int, int]) -> np.ndarray:
    """Move image content so that each source point lands on its target point.

    image: (H,W,C) or (H,W); source_points, target_points: (N,2) pixel x,y in the input and output images;
    output_size: (width, height). Inside the target points' Delaunay triangles the mapping is affine per
    triangle; outside their hull the nearest triangle's mapping extends (add border anchors to cover all).
    """
    map_x, map_y = inverse_maps(source_points, target_points, output_size)
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def inverse_maps(source_points: np.ndarray, target_points: np.ndarray, output_size: tuple[int, int]):
    """(H,W) float32 maps giving, for each output pixel, where to sample the input."""
    width, height = output_size
    triangles = Delaunay(target_points).simplices
    affines = _target_to_source_affines(source_points[triangles], target_points[triangles])
    triangle_ids = _rasterise_triangle_ids(target_points, triangles, width, height)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    chosen = affines[triangle_ids]  # (H,W,3,2)
    map_x = chosen[..., 0, 0] * xs + chosen[..., 1, 0] * ys + chosen[..., 2, 0]
    map_y = chosen[..., 0, 1] * xs + chosen[..., 1, 1] * ys + chosen[..., 2, 1]
    return map_x.astype(np.float32), map_y.astype(np.float32)


def _target_to_source_affines(source_tris: np.ndarray, target_tris: np.ndarray) -> np.ndarray:
    """(T,3,2) matrices A with [x y 1]·A = source point, for target points of each (T,3,2) triangle."""
    homogeneous = np.concatenate([target_tris, np.ones(target_tris.shape[:2] + (1,))], axis=2)
    determinant = np.linalg.det(homogeneous)
    degenerate = np.abs(determinant) < 1e-9
    homogeneous[degenerate] = np.eye(3)
    affines = np.linalg.solve(homogeneous, source_tris)
    affines[degenerate] = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    return affines


def _rasterise_triangle_ids(points: np.ndarray, triangles: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H,W) int32 index of the triangle covering each pixel; pixels outside all take the nearest's."""
    ids = np.full((height, width), -1, np.int32)
    fixed = np.round(points * 16).astype(np.int32)
    for index, triangle in enumerate(triangles):
        cv2.fillConvexPoly(ids, fixed[triangle], int(index), lineType=cv2.LINE_8, shift=4)
    if (ids < 0).any():
        missing = ids < 0
        _, nearest = cv2.distanceTransformWithLabels((~missing).astype(np.uint8) * 255, cv2.DIST_L2, 5,
                                                      labelType=cv2.DIST_LABEL_PIXEL)
        ids_by_label = np.zeros(nearest.max() + 1, np.int32)
        ids_by_label[nearest[~missing]] = ids[~missing]
        ids[missing] = ids_by_label[nearest[missing]]
    return ids
