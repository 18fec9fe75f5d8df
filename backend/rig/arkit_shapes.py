"""The subject's own 52 ARKit shapes on the CPU engine: each recipe (backend/rig/arkit_recipes.py) moves the neutral
landmarks with the subject's action-unit fields, the backings follow, the eyeballs turn for eyeLook*, the mouth's
backing comes forward for tongueOut; the warp editor draws what the shape does to the skin (creases, teeth,
tongue), kept as a texture where the shape creases the skin or otherwise changes it."""
from dataclasses import dataclass

import numpy as np

from addon.core.arkit import ARKIT_SHAPES
from addon.core.expression_set import RigShapeData
from backend.editors.mouth_drawing import photo_palette
from backend.editors.warp import WarpEditor
from backend.editors.wrinkle_geometry import CREASE_ACTION_UNITS
from backend.reconstructors.reconstruction import ReconstructionBase, Reconstructor
from backend.rig.arkit_recipes import ARKIT_RECIPES, RIG_MOTION_SPECS, ArkitRecipe
from backend.subject.action_units import ActionUnitBasis, build_action_unit_basis
from backend.subject.calibration import Subject
from backend.subject.face_topology import LANDMARK_COUNT
from backend.subject.mouth_interior import PATCH_PX
from backend.texture.texture_steps import change_mask, enhance_texture

# The eyeball's centre behind the middle of the eye opening (an adult eyeball's radius is about 12 mm).
EYEBALL_DEPTH_M = 0.012
# tongueOut at weight 1: the tip this far in front of the lips' middle and this far below it.
TONGUE_REACH_M = 0.012
TONGUE_DROP_M = 0.008
# A shape keeps its own texture when its change mask is this many times the mask of drawing no change at all (what
# resampling alone leaves, measured on the subject itself).
TEXTURE_CHANGE_OVER_RESAMPLING = 1.5
# A rig keeps the textures of this many shapes at most, so that with eight prompts' own it fits the 32 texture slots
# the Unity shader blends (unity_export/Shaders/PromptFaceBlend.hlsl).
MAX_RIG_TEXTURES = 24


@dataclass(frozen=True)
class RigFields:
    """What the shapes are built from, for one subject: its action units and the rig's extra motions."""
    action_units: ActionUnitBasis
    motions: ActionUnitBasis


def rig_fields(subject: Subject) -> RigFields:
    neutral_m = subject.base_mesh.vertices[:LANDMARK_COUNT].astype(np.float64)
    motions = build_action_unit_basis(neutral_m, subject.topology.landmark_triangles, specs=RIG_MOTION_SPECS,
                                      lateral=())
    return RigFields(action_units=subject.action_units, motions=motions)


def landmark_displacement(fields: RigFields, recipe: ArkitRecipe) -> np.ndarray:
    """(468,3) metres: the recipe's action units and motions, on its side of the face only when it has one."""
    total = fields.action_units.displacement(recipe.action_units) + fields.motions.displacement(recipe.motions)
    if recipe.side == "left":
        total *= fields.action_units.left_weight[:, None]
    elif recipe.side == "right":
        total *= 1.0 - fields.action_units.left_weight[:, None]
    return total


def shape_vertices(subject: Subject, fields: RigFields, recipe: ArkitRecipe, weight: float = 1.0) -> np.ndarray:
    """(V,3) float32 vertices of the shape at `weight` (the backings follow their rims)."""
    neutral_m = subject.base_mesh.vertices[:LANDMARK_COUNT].astype(np.float64)
    vertices = subject.vertices_from_landmarks(neutral_m + weight * landmark_displacement(fields, recipe))
    if recipe.eye_rotation is not None:
        yaw, pitch = recipe.eye_rotation
        vertices = turned_eye(subject, vertices, recipe.side, weight * yaw, weight * pitch)
    if recipe.tongue:
        vertices = tongue_out(subject, vertices, weight)
    return vertices.astype(np.float32)


def eye_backing_vertices(subject: Subject, side: str) -> tuple[np.ndarray, np.ndarray]:
    """(ring and centre vertex indices, rim landmark indices) of the subject's left or right eye's backing."""
    _, right_eye, left_eye = subject.topology.backings()
    loop, start, _ = left_eye if side == "left" else right_eye
    return np.arange(start, start + len(loop) + 1), loop


def turned_eye(subject: Subject, vertices: np.ndarray, side: str, yaw: float, pitch: float) -> np.ndarray:
    """vertices with one eye's backing (which carries the iris) turned about the eyeball's centre: yaw towards the
    subject's left, pitch up, radians."""
    backing, rim = eye_backing_vertices(subject, side)
    axes = subject.frame.axes  # rows: the face's x (subject's left), y (up), z (towards the camera)
    centre = vertices[rim].mean(axis=0) - EYEBALL_DEPTH_M * axes[2]
    cos_y, sin_y, cos_p, sin_p = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    turn_yaw = np.array([[cos_y, 0.0, sin_y], [0.0, 1.0, 0.0], [-sin_y, 0.0, cos_y]])  # z towards +x
    turn_pitch = np.array([[1.0, 0.0, 0.0], [0.0, cos_p, sin_p], [0.0, -sin_p, cos_p]])  # z towards +y
    local = (vertices[backing] - centre) @ axes.T
    turned = vertices.copy()
    turned[backing] = (local @ (turn_yaw @ turn_pitch).T) @ axes + centre
    return turned


def tongue_out(subject: Subject, vertices: np.ndarray, weight: float) -> np.ndarray:
    """vertices with the mouth backing's centre brought out past the lips as the tongue's tip, and the lower half of
    its ring forward with it."""
    mouth_loop, start, _ = subject.topology.backings()[0]
    axes = subject.frame.axes
    lips_middle = vertices[mouth_loop].mean(axis=0)
    ring = np.arange(start, start + len(mouth_loop))
    tip = start + len(mouth_loop)
    moved = vertices.copy()
    target = lips_middle + TONGUE_REACH_M * axes[2] - TONGUE_DROP_M * axes[1]
    moved[tip] = vertices[tip] + weight * (target - vertices[tip])
    lower = ring[(vertices[ring] - lips_middle) @ axes[1] < 0]
    moved[lower] += weight * 0.5 * (TONGUE_REACH_M * axes[2] - TONGUE_DROP_M * axes[1])
    return moved


def paint_tongue(texture: np.ndarray, subject: Subject) -> np.ndarray:
    """texture with the mouth patch (what the mouth backing shows) in the subject's tongue colour, lighter at the
    tip (the patch's middle)."""
    palette = photo_palette(subject.photo_crop, subject.photo_landmarks_px, subject.topology.mouth_loop)
    rows, columns = np.mgrid[0:PATCH_PX, 0:PATCH_PX] / (PATCH_PX - 1) - 0.5
    light = 1.15 - 0.5 * np.sqrt(rows ** 2 + columns ** 2)
    painted = texture.copy()
    painted[-PATCH_PX:, :PATCH_PX] = np.clip(palette.tongue * light[..., None], 0, 255).astype(np.uint8)
    return painted


def build_arkit_shapes(subject: Subject, base: ReconstructionBase, reconstructor: Reconstructor,
                       editor: WarpEditor, enhance: bool = True) -> list[RigShapeData]:
    """The 52 shapes in ARKit's order. Textures: the warp editor's drawing of the shape, back in the base UV layout
    by the reconstructor, kept where the shape creases the skin, paints the tongue, or changes the skin more than
    resampling does (TEXTURE_CHANGE_OVER_RESAMPLING) — at most MAX_RIG_TEXTURES, those that change it most."""
    fields = rig_fields(subject)
    resampling = _drawn_texture(subject, base, reconstructor, editor, np.zeros((LANDMARK_COUNT, 3)), {}, "none")[1]
    floor = max(float(resampling[base.texture_region].mean()), 1.0)
    textured = {}  # name → (texture, mask, how much it changes the skin)
    for name in ARKIT_SHAPES:
        recipe = ARKIT_RECIPES[name]
        if recipe.eye_rotation is not None or not recipe.skin:
            continue
        texture, mask = _drawn_texture(subject, base, reconstructor, editor, landmark_displacement(fields, recipe),
                                       _wrinkle_units(recipe), name)
        if recipe.tongue:  # the mouth patch lies outside the face region: the tongue is always its own texture
            texture = paint_tongue(texture, subject)
            mask = np.maximum(mask, _patch_mask(mask.shape))
        change = float(mask[base.texture_region].mean()) / floor
        if recipe.tongue or creases_skin(recipe) or change > TEXTURE_CHANGE_OVER_RESAMPLING:
            textured[name] = (texture, mask, np.inf if recipe.tongue else change)
    kept = _strongest(textured, {name: change for name, (_, _, change) in textured.items()})
    shapes = []
    for name in ARKIT_SHAPES:
        recipe = ARKIT_RECIPES[name]
        texture, mask = textured[name][:2] if name in kept else (None, None)
        if texture is not None and enhance:
            texture = enhance_texture(texture, base.texture_region)
        shapes.append(RigShapeData(name=name, vertices=shape_vertices(subject, fields, recipe), texture=texture,
                                   mask=mask, recipe=recipe_record(recipe)))
    return shapes


def _strongest(textured: dict, change: dict[str, float]) -> set[str]:
    """The textured shapes kept: the strongest changes first, a Left/Right pair as one (both or neither, so the two
    sides look alike), MAX_RIG_TEXTURES at most."""
    groups: dict[str, list[str]] = {}
    for name in textured:
        groups.setdefault(name.removesuffix("Left").removesuffix("Right"), []).append(name)
    kept: set[str] = set()
    for group in sorted(groups.values(), key=lambda names: -max(change[name] for name in names)):
        if len(kept) + len(group) <= MAX_RIG_TEXTURES:
            kept.update(group)
    return kept


def _drawn_texture(subject: Subject, base: ReconstructionBase, reconstructor: Reconstructor, editor: WarpEditor,
                   displacement: np.ndarray, creases: dict[str, float], name: str) -> tuple[np.ndarray, np.ndarray]:
    """(texture, change mask) of the crop drawn with the landmarks moved by displacement (metres)."""
    neutral_m = subject.base_mesh.vertices[:LANDMARK_COUNT].astype(np.float64)
    drawn = editor.draw(subject, displacement, creases)
    moved_px = subject.crop_to_mesh.to_pixels(neutral_m + displacement)
    reconstruction = reconstructor.reconstruct(subject, base, drawn, source=f"ARKit shape {name}",
                                               known_landmarks=moved_px)
    return reconstruction.texture, change_mask(reconstruction.texture, base.texture, base.texture_region)


def _patch_mask(shape: tuple[int, int]) -> np.ndarray:
    """(H,W) uint8, 255 over the mouth patch's corner of a texture."""
    mask = np.zeros(shape, np.uint8)
    mask[-PATCH_PX:, :PATCH_PX] = 255
    return mask


def _wrinkle_units(recipe: ArkitRecipe) -> dict[str, float]:
    """The action units whose creases the shape draws, on its own side only for a Left/Right shape (the creases
    take AU9L as they take AU12L)."""
    suffix = {"left": "L", "right": "R"}.get(recipe.side or "", "")
    return {unit + suffix: value for unit, value in recipe.action_units.items()}


def creases_skin(recipe: ArkitRecipe) -> bool:
    """Whether the warp editor draws creases for the shape's action units."""
    return any(unit in CREASE_ACTION_UNITS for unit in recipe.action_units)


def recipe_record(recipe: ArkitRecipe) -> dict:
    record = {"action_units": dict(recipe.action_units), "motions": dict(recipe.motions)}
    if recipe.side:
        record["side"] = recipe.side
    if recipe.eye_rotation is not None:
        record["eye_rotation_rad"] = [round(float(angle), 4) for angle in recipe.eye_rotation]
    if recipe.tongue:
        record["tongue"] = True
    return record
