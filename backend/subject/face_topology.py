"""The face mesh topology: MediaPipe's 468 landmarks as a clean manifold surface, plus backings.

The triangles are derived here from the edge list installed with mediapipe (FACEMESH_TESSELATION):
every 3-cycle of edges is a candidate triangle, and the few 3-cycles that are not faces (all three
of their edges already border two faces) are removed. What remains is a disk with three holes —
the mouth and the two eyes — which stay open so lips and lids can part. Behind each hole sits a
backing cup (extra vertices after the 468 landmarks): a dark inner mouth, so an opened jaw shows a
mouth rather than stretched lips, and the eyeballs.
"""
import functools
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

LANDMARK_COUNT = 468
# Landmarks that identify each hole's boundary loop (inner lips, eyelids).
MOUTH_MARKER, RIGHT_EYE_MARKER, LEFT_EYE_MARKER = 13, 159, 386
# The face's sides (the subject's right, left) at the cheekbones: their distance is the face width.
FACE_SIDES = (234, 454)
# The outer lip line in boundary order (the inner lips are FaceTopology.mouth_loop, found from the tessellation).
OUTER_LIP_LOOP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
# Landmark groups, as (subject's right = image left, subject's left = image right).
INNER_BROW = ([107, 55, 66, 65], [336, 285, 296, 295])
OUTER_BROW = ([70, 46, 63, 53], [300, 276, 293, 283])
UPPER_LID = ([246, 161, 160, 159, 158, 157, 173], [466, 388, 387, 386, 385, 384, 398])
LOWER_LID = ([7, 163, 144, 145, 153, 154, 155], [249, 390, 373, 374, 380, 381, 382])
CHEEK = ([50, 101, 118, 117, 123, 36, 205], [280, 330, 347, 346, 352, 266, 425])
NOSE_WING = ([129, 98, 64, 102, 48], [358, 327, 294, 331, 278])
LIP_CORNER = ([61], [291])
UPPER_LIP_OUTER = ([0, 37, 39, 40], [0, 267, 269, 270])
UPPER_LIP_INNER = ([13, 82, 81, 80], [13, 312, 311, 310])
LOWER_LIP_INNER = ([14, 87, 178, 88], [14, 317, 402, 318])
LOWER_LIP_OUTER = ([17, 84, 181, 91], [17, 314, 405, 321])
CHIN = [152, 175, 199, 200, 18, 148, 377, 176, 400]
JAW_LOWER = ([150, 136], [379, 365])
JAW_ANGLE = ([172], [397])
GLABELLA = [9, 8]
# The top of the nose bridge: the brows' raisers leave it where it is (a zero-offset control pins the blend there).
NOSE_BRIDGE_TOP = [168, 6]
# Landmarks that define the face frame.
(FACE_RIGHT_SIDE, FACE_LEFT_SIDE), FOREHEAD_TOP, CHIN_BOTTOM = FACE_SIDES, 10, 152
# Backing cups, in metres behind the loop: (ring depth, centre depth, ring shrink towards the centre).
MOUTH_BACKING = (0.010, 0.022, 0.75)
EYE_BACKING = (0.003, 0.007, 0.8)


@dataclass(frozen=True)
class FaceTopology:
    """Vertex order: 468 landmarks, then for each backing (mouth, right eye, left eye) its ring then its centre."""
    landmark_triangles: np.ndarray  # (852,3) int32, the face surface over landmark vertices
    outer_loop: np.ndarray          # (36,) int, the face oval
    mouth_loop: np.ndarray          # (20,) int, inner lips, in boundary order
    eye_loops: tuple[np.ndarray, np.ndarray]  # (16,) each: the subject's right eye, then left eye
    backing_triangles: np.ndarray   # (B,3) int32 over the full vertex list
    vertex_count: int

    @property
    def triangles(self) -> np.ndarray:
        """(F,3) int32, all triangles (face surface then backings)."""
        return np.concatenate([self.landmark_triangles, self.backing_triangles])

    @property
    def mouth_backing_vertices(self) -> np.ndarray:
        """Indices of the mouth backing's ring and centre vertices."""
        start = LANDMARK_COUNT
        return np.arange(start, start + len(self.mouth_loop) + 1)

    def backings(self) -> list[tuple[np.ndarray, int, tuple[float, float, float]]]:
        """(loop, first backing vertex index, (ring depth, centre depth, shrink)) for each hole."""
        result, start = [], LANDMARK_COUNT
        for loop, shape in ((self.mouth_loop, MOUTH_BACKING), (self.eye_loops[0], EYE_BACKING),
                            (self.eye_loops[1], EYE_BACKING)):
            result.append((loop, start, shape))
            start += len(loop) + 1
        return result


@functools.lru_cache(maxsize=1)
def face_topology() -> FaceTopology:
    """Derive (once per process) the cleaned, consistently wound topology."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    edges = {tuple(sorted(edge)) for edge in FACEMESH_TESSELATION}
    triangles = orient_consistently(remove_spurious_triangles(triangles_from_edges(edges)))
    loops = boundary_loops(triangles)
    outer = max(loops, key=len)
    mouth, right_eye, left_eye = (_loop_containing(loops, marker)
                                  for marker in (MOUTH_MARKER, RIGHT_EYE_MARKER, LEFT_EYE_MARKER))
    if len(loops) != 4:
        raise RuntimeError(f"unexpected FaceMesh topology: {len(loops)} boundary loops")
    topology = FaceTopology(landmark_triangles=triangles, outer_loop=outer, mouth_loop=mouth,
                            eye_loops=(right_eye, left_eye), backing_triangles=np.zeros((0, 3), np.int32),
                            vertex_count=LANDMARK_COUNT)
    backing, vertex_count = _backing_triangles(topology)
    return FaceTopology(landmark_triangles=triangles, outer_loop=outer, mouth_loop=mouth,
                        eye_loops=(right_eye, left_eye), backing_triangles=backing, vertex_count=vertex_count)


def triangles_from_edges(edges: set[tuple[int, int]]) -> np.ndarray:
    """(N,3) every 3-cycle of an undirected edge set, each as sorted vertex indices."""
    neighbours = defaultdict(set)
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    found = {tuple(sorted((a, b, c))) for a, b in edges for c in neighbours[a] & neighbours[b]}
    return np.array(sorted(found), dtype=np.int32)


def remove_spurious_triangles(triangles: np.ndarray) -> np.ndarray:
    """Drop 3-cycles whose every edge is shared by more than two triangles: they are not faces."""
    counts = Counter(edge for tri in triangles for edge in _edges(tri))
    keep = [tri for tri in triangles if not all(counts[edge] > 2 for edge in _edges(tri))]
    kept = np.array(keep, dtype=np.int32)
    counts = Counter(edge for tri in kept for edge in _edges(tri))
    if max(counts.values()) > 2:
        raise RuntimeError("FaceMesh tessellation is not manifold after cleaning")
    return kept


def orient_consistently(triangles: np.ndarray) -> np.ndarray:
    """Flip triangles so that neighbours traverse their shared edge in opposite directions."""
    by_edge = defaultdict(list)
    for index, tri in enumerate(triangles):
        for edge in _edges(tri):
            by_edge[edge].append(index)
    oriented = triangles.copy()
    visited = np.zeros(len(triangles), bool)
    for seed in range(len(triangles)):
        if visited[seed]:
            continue
        visited[seed] = True
        stack = [seed]
        while stack:
            current = stack.pop()
            for a, b in _directed_edges(oriented[current]):
                for other in by_edge[tuple(sorted((a, b)))]:
                    if visited[other]:
                        continue
                    if (a, b) in _directed_edges(oriented[other]):
                        oriented[other] = oriented[other][::-1]
                    visited[other] = True
                    stack.append(other)
    return oriented


def boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
    """Closed loops of boundary edges (edges used by one triangle), following the triangles' winding."""
    directed = [edge for tri in triangles for edge in _directed_edges(tri)]
    counts = Counter(tuple(sorted(edge)) for edge in directed)
    following = {a: b for a, b in directed if counts[tuple(sorted((a, b)))] == 1}
    loops, seen = [], set()
    for start in following:
        if start in seen:
            continue
        loop, vertex = [], start
        while vertex not in seen:
            seen.add(vertex)
            loop.append(vertex)
            vertex = following[vertex]
        loops.append(np.array(loop))
    return loops


def face_normals_towards_camera(topology: FaceTopology, positions: np.ndarray) -> FaceTopology:
    """The same topology, flipped as a whole if its surface faces away from +Z for these (V,3) positions."""
    tri = positions[topology.landmark_triangles]
    normals_z = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2]
    if normals_z.sum() >= 0:
        return topology
    return FaceTopology(landmark_triangles=topology.landmark_triangles[:, ::-1].copy(),
                        outer_loop=topology.outer_loop[::-1].copy(), mouth_loop=topology.mouth_loop[::-1].copy(),
                        eye_loops=tuple(loop[::-1].copy() for loop in topology.eye_loops),
                        backing_triangles=topology.backing_triangles[:, ::-1].copy(),
                        vertex_count=topology.vertex_count)


def backing_positions(topology: FaceTopology, landmarks: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """All (V,3) vertex positions: the (468,3) landmark positions followed by the backing cups behind each hole.

    forward: (3,) unit vector out of the face (towards the camera), metres.
    """
    vertices = np.zeros((topology.vertex_count, 3), dtype=np.float64)
    vertices[:LANDMARK_COUNT] = landmarks
    for loop, start, (ring_depth, centre_depth, shrink) in topology.backings():
        rim = landmarks[loop]
        centre = rim.mean(axis=0)
        vertices[start:start + len(loop)] = centre + shrink * (rim - centre) - ring_depth * forward
        vertices[start + len(loop)] = centre - centre_depth * forward
    return vertices


def _backing_triangles(topology: FaceTopology) -> tuple[np.ndarray, int]:
    triangles, next_vertex = [], LANDMARK_COUNT
    for loop, start, _ in topology.backings():
        count = len(loop)
        ring = start + np.arange(count)
        centre = start + count
        for i in range(count):
            j = (i + 1) % count
            # The loop runs with the face's winding; the cup continues the surface inwards.
            triangles += [(loop[j], loop[i], ring[i]), (loop[j], ring[i], ring[j]), (ring[j], ring[i], centre)]
        next_vertex = centre + 1
    return np.array(triangles, dtype=np.int32), next_vertex


def _loop_containing(loops: list[np.ndarray], vertex: int) -> np.ndarray:
    for loop in loops:
        if vertex in loop:
            return loop
    raise RuntimeError(f"landmark {vertex} is not on a boundary loop of the FaceMesh tessellation")


def _edges(tri) -> list[tuple[int, int]]:
    return [tuple(sorted(pair)) for pair in itertools.combinations((int(v) for v in tri), 2)]


def _directed_edges(tri) -> list[tuple[int, int]]:
    a, b, c = (int(v) for v in tri)
    return [(a, b), (b, c), (c, a)]


def polygon_area(points: np.ndarray) -> float:
    """Area of a simple polygon given by (N,2) points (shoelace)."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def polygon_mask(points: np.ndarray, size: int) -> np.ndarray:
    """(size,size) bool, True inside the polygon given by (N,2) pixel points."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def face_width_px(landmarks_px: np.ndarray) -> float:
    """The face's width in the pixels of (468,≥2) landmarks (at least 1)."""
    return max(float(np.linalg.norm(landmarks_px[FACE_SIDES[1], :2] - landmarks_px[FACE_SIDES[0], :2])), 1.0)


@dataclass(frozen=True)
class FaceFrame:
    """An orthonormal frame fixed to the subject's neutral face, in mesh coordinates (metres)."""
    axes: np.ndarray   # (3,3) rows: x (towards subject's left), y (up), z (out of the face)
    width: float       # face width, metres
    midline_x: float   # x coordinate of the face's midline in the face frame, metres


def face_frame(landmarks: np.ndarray) -> FaceFrame:
    """The frame of a (468,3) neutral landmark mesh in metres (+Y up, +Z towards the camera)."""
    across = landmarks[FACE_LEFT_SIDE] - landmarks[FACE_RIGHT_SIDE]
    x_axis = across / np.linalg.norm(across)
    up = landmarks[FOREHEAD_TOP] - landmarks[CHIN_BOTTOM]
    y_axis = up - up.dot(x_axis) * x_axis
    y_axis /= np.linalg.norm(y_axis)
    z_axis = np.cross(x_axis, y_axis)
    axes = np.stack([x_axis, y_axis, z_axis])
    midline = 0.5 * (landmarks[FACE_LEFT_SIDE] + landmarks[FACE_RIGHT_SIDE]) @ x_axis
    return FaceFrame(axes=axes, width=float(np.linalg.norm(across)), midline_x=float(midline))
