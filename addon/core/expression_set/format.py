"""What a set is on disk: the format's name and version, its file names, and the rule for paths inside it."""
import re
from pathlib import PurePosixPath

FORMAT_NAME = "promptface.expressions"
# 1.1: expressions may carry "reads_as" (an expression recogniser's class probabilities) and the subject
# "photo_expression" (the action units read from the photo); 1.0 readers ignore both.
# 1.2: an optional "rig" (the subject's ARKit-52 shapes, each a vertex file and, where the shape changes the skin, a
# texture and mask; and named poses such as the visemes), and per expression "arkit_weights" and "arkit_fit";
# 1.0 and 1.1 readers ignore them.
FORMAT_VERSION = "1.2"
SUPPORTED_MAJOR_VERSION = 1

MANIFEST_FILE = "manifest.json"
BASE_MESH_FILE = "base.obj"
BASE_MATERIAL_FILE = "base.mtl"
BASE_TEXTURE_FILE = "base_texture.png"

EXPRESSION_NAME_PATTERN = re.compile(r"^[a-z0-9_]{1,64}$")
# "base" would make NAME.obj overwrite base.obj.
RESERVED_NAMES = frozenset({"base"})
REQUIRED_EXPRESSION_FILES = ("vertices", "texture", "mask", "edited")
# Rig shapes keep ARKit's own spelling (eyeBlinkLeft); their files start with "rig." so no expression's can clash.
RIG_SHAPE_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
RIG_KINDS = ("arkit",)


def expression_file_names(name: str, with_obj: bool = False) -> dict[str, str]:
    """The manifest's "files" entry of expression `name`."""
    files = {
        "vertices": f"{name}.vertices.npy",
        "texture": f"{name}.texture.png",
        "mask": f"{name}.mask.png",
        "edited": f"{name}.edited.png",
    }
    if with_obj:
        files["obj"] = f"{name}.obj"
    return files


def rig_shape_file_names(name: str, with_texture: bool) -> dict[str, str]:
    """The manifest's "files" entry of rig shape `name`: its vertices, and its texture and mask when it has them."""
    files = {"vertices": f"rig.{name}.vertices.npy"}
    if with_texture:
        files.update(texture=f"rig.{name}.texture.png", mask=f"rig.{name}.mask.png")
    return files


def manifest_file_names(manifest: dict) -> list[str]:
    """Every file a set's manifest stands for (itself, the base, the photo, each expression's files), top-level
    names only; what a server may hand out of a set that is still growing. Raises KeyError/TypeError if malformed."""
    names = [MANIFEST_FILE, manifest["topology"]["base_mesh"], BASE_MATERIAL_FILE, manifest["base_texture"],
             manifest["subject"]["photo"]]
    for record in manifest["expressions"]:
        names.extend(record["files"].values())
        if "obj" in record["files"]:
            names.append(f"{record['name']}.mtl")
    for shape in (manifest.get("rig") or {}).get("shapes", []):
        names.extend(shape["files"].values())
    return [name for name in dict.fromkeys(names) if "/" not in name]


def safe_relative_path(name) -> str | None:
    """name as a normalised relative POSIX path, or None if it is absolute, climbs with '..' or is empty."""
    if not isinstance(name, str) or not name or "\\" in name or "\0" in name:
        return None
    path = PurePosixPath(name)
    parts = [part for part in path.parts if part != "."]
    if path.is_absolute() or not parts or ".." in parts or ":" in parts[0]:
        return None
    return "/".join(parts)
