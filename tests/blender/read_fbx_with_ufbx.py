"""Read an FBX with ufbx, a reader independent of Blender, and print what the tests check as JSON on stdout.

Run as `python read_fbx_with_ufbx.py FILE.fbx` in its own process: the ufbx bindings crash easily, so every list is
read once into a Python list while its scene is alive, and the process ends with os._exit(0) before any teardown.
Times are in seconds; DeformPercent values are 0-100; positions are in the file's own axes and units.
"""
import json
import os
import sys

import ufbx


def vec(v) -> list[float]:
    return [v.x, v.y, v.z]


def read(path: str) -> dict:
    scene = ufbx.load_file(path, retain_dom=True)
    settings = scene.settings
    meshes = list(scene.meshes)
    result = {
        "unit_meters": settings.unit_meters,
        "frames_per_second": settings.frames_per_second,
        "axes": {name: getattr(settings.axes, name).name for name in ("right", "up", "front")},
        "meshes": [],
        "mesh_nodes": [],
        "channels": {},
        "smoothing_mappings": smoothing_mappings(scene.dom_root),
        "raw_object_names": raw_object_names(scene.dom_root),
        "texture_files": [texture.relative_filename for texture in list(scene.textures)],
    }
    for mesh in meshes:
        positions = mesh.vertex_position
        normals = mesh.vertex_normal
        face_smoothing = list(mesh.face_smoothing)
        deformers = list(mesh.blend_deformers)
        channels = [channel for deformer in deformers for channel in list(deformer.channels)]
        result["meshes"].append({
            "name": mesh.name,
            "num_vertices": mesh.num_vertices,
            "vertices": [vec(v) for v in list(mesh.vertices)],
            "has_normals": normals.exists,
            "has_face_smoothing": len(face_smoothing) == mesh.num_faces and mesh.num_faces > 0,
            "smooth_faces": sum(bool(s) for s in face_smoothing),
            "num_faces": mesh.num_faces,
            "has_positions": positions.exists,
            "blend_channels": [channel.name for channel in channels],
            "blend_shapes": {channel.name: shape_offsets(channel) for channel in channels},
            "blend_shape_max_normal_offset": {channel.name: max_normal_offset(channel) for channel in channels},
        })
    nodes = list(scene.nodes)
    result["node_names"] = [node.name for node in nodes if not node.is_root]
    result["num_bones"] = len(list(scene.bones))
    for node in nodes:
        if node.mesh is not None:
            matrix = node.geometry_to_world
            result["mesh_nodes"].append({"name": node.name, "rotation_degrees": vec(node.euler_rotation),
                                         "geometry_to_world_columns": [vec(column) for column in matrix]})
    for layer in list(scene.anim_layers):
        for anim_prop in list(layer.anim_props):
            element = anim_prop.element
            if element.type.name != "BLEND_CHANNEL" or anim_prop.prop_name != "DeformPercent":
                continue
            curve = anim_prop.anim_value.curves[0]
            keys = [] if curve is None else [[key.time, key.value] for key in list(curve.keyframes)]
            result["channels"][element.name] = keys
    return result


def shape_offsets(channel) -> dict:
    """The channel's target shape as {vertex index: [dx, dy, dz]} (JSON keys are strings)."""
    shape = channel.target_shape
    if shape is None:
        return {}
    indices = list(shape.offset_vertices)
    offsets = [vec(v) for v in list(shape.position_offsets)]
    return {str(index): offset for index, offset in zip(indices, offsets, strict=True)}


def max_normal_offset(channel) -> float:
    shape = channel.target_shape
    offsets = [] if shape is None else [vec(v) for v in list(shape.normal_offsets)]
    return max((abs(c) for offset in offsets for c in offset), default=0.0)


def raw_object_names(root) -> dict[str, list[str]]:
    """The names the file itself gives its blendshape channels ("BlendShapeChannel") and their target shapes
    ("Shape"), in file order: a binary FBX stores "name\\x00\\x01Class", and the part before the separator is kept."""
    names = {"BlendShapeChannel": [], "Shape": []}
    for child in list(root.find("Objects").children):
        values = list(child.values)
        kind = values[-1].value_str
        if (child.name, kind) in (("Deformer", "BlendShapeChannel"), ("Geometry", "Shape")):
            names[kind].append(values[1].value_blob.split(b"\x00\x01")[0].decode())
    return names


def smoothing_mappings(root) -> list[str]:
    """MappingInformationType of every mesh geometry's LayerElementSmoothing in the raw file ("" when absent)."""
    mappings = []
    for child in list(root.find("Objects").children):
        values = list(child.values)
        if child.name != "Geometry" or values[-1].value_str != "Mesh":
            continue
        smoothing = child.find("LayerElementSmoothing")
        mapping = None if smoothing is None else smoothing.find("MappingInformationType")
        mappings.append("" if mapping is None else list(mapping.values)[0].value_str)
    return mappings


if __name__ == "__main__":
    print(json.dumps(read(sys.argv[1])))
    sys.stdout.flush()
    os._exit(0)
