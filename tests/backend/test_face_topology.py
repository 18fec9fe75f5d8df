from collections import Counter

import numpy as np
import pytest

from backend.subject.face_topology import (LANDMARK_COUNT, backing_positions, boundary_loops,
                                           face_normals_towards_camera, face_topology)


@pytest.fixture(scope="module")
def topology():
    return face_topology()


def _directed_edges(triangles):
    return [(int(a), int(b)) for tri in triangles for a, b in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0]))]


def _landmark_metres(subject):
    return subject.crop_to_mesh.to_metres(subject.landmarks_px)


def test_triangle_and_vertex_counts(topology):
    assert topology.landmark_triangles.shape == (852, 3)
    assert set(np.unique(topology.landmark_triangles)) == set(range(LANDMARK_COUNT))
    # Each backing cup adds a ring (one vertex per loop vertex) plus a centre, and 3 triangles per loop edge.
    loops = (topology.mouth_loop, *topology.eye_loops)
    assert topology.vertex_count == LANDMARK_COUNT + sum(len(loop) + 1 for loop in loops)
    assert len(topology.backing_triangles) == sum(3 * len(loop) for loop in loops)
    assert topology.triangles.max() == topology.vertex_count - 1


def test_every_edge_borders_at_most_two_triangles(topology):
    counts = Counter(tuple(sorted(edge)) for edge in _directed_edges(topology.triangles))
    assert max(counts.values()) == 2


def test_winding_is_consistent(topology):
    directed = Counter(_directed_edges(topology.triangles))
    assert max(directed.values()) == 1  # two neighbours never run along their shared edge the same way


def test_no_degenerate_triangles(topology):
    triangles = topology.triangles
    assert all(len(set(tri.tolist())) == 3 for tri in triangles)
    assert len({tuple(sorted(tri.tolist())) for tri in triangles}) == len(triangles)


def test_with_backings_only_the_face_oval_stays_open(topology):
    (loop,) = boundary_loops(topology.triangles)
    assert len(loop) == 36
    assert set(loop.tolist()) == set(topology.outer_loop.tolist())
    assert {10, 152, 234, 454} <= set(loop.tolist())  # forehead top, chin, both cheeks


def test_holes_are_the_mouth_and_the_eyes(topology):
    assert {13, 14, 78, 308} <= set(topology.mouth_loop.tolist())  # mid inner lips and inner lip corners
    right_eye, left_eye = topology.eye_loops
    assert {159, 145} <= set(right_eye.tolist())
    assert {386, 374} <= set(left_eye.tolist())
    loops = boundary_loops(topology.landmark_triangles)
    assert sorted(len(loop) for loop in loops) == [16, 16, 20, 36]


def test_landmark_surface_is_a_disk_with_three_holes(topology):
    triangles = topology.landmark_triangles
    edges = {tuple(sorted(edge)) for edge in _directed_edges(triangles)}
    euler = LANDMARK_COUNT - len(edges) + len(triangles)
    assert euler == 2 - 4  # sphere (2) minus four boundary loops: face oval, mouth, two eyes


def _normals_z(triangles, positions):
    tri = positions[triangles]
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2]


def test_surface_is_turned_to_face_the_camera(topology, subject):
    landmarks = _landmark_metres(subject)
    facing = face_normals_towards_camera(topology, landmarks)
    assert (_normals_z(facing.landmark_triangles, landmarks) > 0).mean() > 0.9
    # Mirroring the face left-right turns its surface away; the topology must flip to keep facing +Z.
    mirrored = landmarks * np.array([-1.0, 1.0, 1.0])
    facing_mirrored = face_normals_towards_camera(topology, mirrored)
    assert (_normals_z(facing_mirrored.landmark_triangles, mirrored) > 0).mean() > 0.9
    np.testing.assert_array_equal(facing_mirrored.landmark_triangles, facing.landmark_triangles[:, ::-1])
    # Flipped as a whole, the mesh stays consistently wound.
    assert max(Counter(_directed_edges(facing_mirrored.triangles)).values()) == 1


def test_backings_sit_behind_their_holes(topology, subject):
    landmarks = _landmark_metres(subject)
    forward = subject.frame.axes[2]
    vertices = backing_positions(topology, landmarks, forward)
    assert vertices.shape == (topology.vertex_count, 3)
    np.testing.assert_array_equal(vertices[:LANDMARK_COUNT], landmarks)
    for loop, start, (ring_depth, centre_depth, _) in topology.backings():
        rim_depth = landmarks[loop].mean(axis=0) @ forward
        ring = vertices[start:start + len(loop)] @ forward
        centre = vertices[start + len(loop)] @ forward
        assert (ring < rim_depth).all()
        assert rim_depth - ring.mean() == pytest.approx(ring_depth)
        assert rim_depth - centre == pytest.approx(centre_depth)
        assert centre < ring.mean()  # a cup: deepest in the middle
        # The cup is smaller than its hole, so it does not poke out beside the lips or lids.
        rim_spread = np.linalg.norm(landmarks[loop] - landmarks[loop].mean(axis=0), axis=1).mean()
        ring_points = vertices[start:start + len(loop)]
        assert np.linalg.norm(ring_points - ring_points.mean(axis=0), axis=1).mean() < rim_spread
