"""Build the PromptFace extension zip(s) for Blender 4.2 to 5.0 (the releases with Python 3.11).

    python -m addon.build_extension --out dist/                        # every platform, one zip each
    python -m addon.build_extension --out dist/ --platforms linux-x64  # just one
    python -m addon.build_extension --out dist/ --wheel-dir WHEELS     # offline: wheels already downloaded

Steps: 1. copy addon/ (less NOT_SHIPPED: what only runs outside Blender) and the top-level blender_manifest.toml
into a staging folder (the extension's top level must be the add-on package); 2. put the bundled wheels (paramiko
and its dependencies, binary wheels from PyPI, per platform) into its wheels/ folder; 3. write their list and the
platforms into the staged manifest, and check its blender_version_max against the wheels' Python tags (see
BLENDER_PYTHONS); 4. validate and build with the extension tool that ships inside the bpy wheel (the same code as
`blender --command extension`).
Nothing here runs inside Blender, and this file is not shipped in the extension.
"""
import argparse
import glob
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ADDON_DIR = Path(__file__).resolve().parent
REPO_ROOT = ADDON_DIR.parent
MANIFEST_FILE = "blender_manifest.toml"
BLENDER_PYTHON = "3.11"  # the Python the wheels are downloaded for: Blender 4.2 to 5.0's
# From Blender 4.2 on, each release whose Python differs from the one before, with that Python, oldest first (4.2 to
# 5.0 have 3.11; 5.1's release notes: "Python was upgraded to 3.13"). A wheel built for one CPython (cp311-cp311,
# unlike abi3 or py3 wheels) stops working at the next release here, which the manifest must then name as
# blender_version_max (exclusive: Blender installs the extension only below it).
BLENDER_PYTHONS = (("4.2.0", (3, 11)), ("5.1.0", (3, 13)))
# paramiko for the SSH transport, with its whole dependency tree, pinned (requests ships with Blender).
# cryptography 48.0.1 is the newest release with wheels for every platform below (49 dropped Intel macOS).
WHEEL_REQUIREMENTS = ("paramiko==3.5.1", "bcrypt==5.0.0", "cryptography==48.0.1", "pynacl==1.6.2", "cffi==2.1.1",
                      "pycparser==3.12")
# Blender platform -> the wheel platform tags pip may pick for it, newest first: no newer than what Blender 4.2+
# itself needs (glibc 2.28, macOS 11).
PLATFORM_TAGS = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "macos-arm64": ("macosx_11_0_arm64",),
    "macos-x64": ("macosx_11_0_x86_64", "macosx_10_15_x86_64", "macosx_10_14_x86_64", "macosx_10_13_x86_64",
                  "macosx_10_12_x86_64", "macosx_10_9_x86_64", "macosx_10_9_universal2"),
    "windows-x64": ("win_amd64",),
}
# What is never shipped, whatever the manifest's [build] says: compiled files anywhere, and the top-level parts of
# addon/ that only run outside Blender: the `promptface` command (cli.py, animate.py), its benchmarks and this
# build. (render_frames.py ships: the Unity export imports it, and render farms run it with `blender -P`.)
COMPILED = shutil.ignore_patterns("__pycache__", "*.pyc")
NOT_SHIPPED = ("animate.py", "bench", "build_extension.py", "cli.py")


def stage_ignore(folder: str, names: list[str]) -> set[str]:
    """shutil.copytree's ignore function for staging addon/."""
    ignored = COMPILED(folder, names)
    if Path(folder).resolve() == ADDON_DIR:
        ignored |= set(NOT_SHIPPED) & set(names)
    return ignored


class BuildError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m addon.build_extension", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dist", help="output folder (default dist/)")
    parser.add_argument("--platforms", nargs="+", choices=sorted(PLATFORM_TAGS), default=sorted(PLATFORM_TAGS),
                        help="Blender platforms to bundle wheels for (default: all)")
    parser.add_argument("--wheel-dir", type=Path,
                        help="take the wheels from this folder instead of downloading them")
    parser.add_argument("--single-zip", action="store_true",
                        help="one zip for all platforms instead of one per platform")
    args = parser.parse_args(argv)
    try:
        zips = build_extension(args.out, args.platforms, wheel_dir=args.wheel_dir,
                               split_platforms=not args.single_zip)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in zips:
        print(path)
    return 0


def build_extension(out_dir: Path, platforms: list[str], wheel_dir: Path | None = None,
                    split_platforms: bool = True) -> list[Path]:
    """Build the extension; returns the zips written to out_dir."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="promptface-extension-") as temporary:
        # 1. Stage the add-on package with the manifest at its top.
        stage = Path(temporary) / "promptface"
        shutil.copytree(ADDON_DIR, stage, ignore=stage_ignore)
        # 2. The wheels.
        wheels = (wheels_from_folder(Path(wheel_dir), platforms) if wheel_dir
                  else download_wheels(Path(temporary) / "download", platforms))
        (stage / "wheels").mkdir()
        for wheel in wheels:
            shutil.copy2(wheel, stage / "wheels" / wheel.name)
        # 3. The manifest with the wheels and platforms.
        manifest_text = staged_manifest((REPO_ROOT / MANIFEST_FILE).read_text(encoding="utf-8"),
                                        sorted(f"./wheels/{wheel.name}" for wheel in wheels), platforms)
        (stage / MANIFEST_FILE).write_text(manifest_text, encoding="utf-8")
        # 4. Validate, build.
        before = set(out_dir.glob("*.zip"))
        run_extension_tool("validate", str(stage))
        run_extension_tool("build", "--source-dir", str(stage), "--output-dir", str(out_dir),
                           *(["--split-platforms"] if split_platforms else []))
    built = sorted(set(out_dir.glob("*.zip")) - before) or sorted(out_dir.glob("promptface-*.zip"))
    for path in built:
        run_extension_tool("validate", str(path))
    return built


def staged_manifest(text: str, wheel_paths: list[str], platforms: list[str]) -> str:
    """The top-level manifest with `wheels` filled in and `platforms` set (checked by parsing it again)."""
    pattern = re.compile(r"^wheels\s*=\s*\[\s*\]\s*$", re.MULTILINE)
    if not pattern.search(text):
        raise BuildError(f"{MANIFEST_FILE} must hold the line `wheels = []` for the build to fill in")
    wheels = "wheels = [\n" + "".join(f'  "{path}",\n' for path in wheel_paths) + "]"
    listed = "platforms = [" + ", ".join(f'"{platform}"' for platform in platforms) + "]"
    text = pattern.sub(lambda _: f"{listed}\n{wheels}", text, count=1)
    manifest = tomllib.loads(text)
    if manifest.get("wheels") != wheel_paths or manifest.get("platforms") != platforms:
        raise BuildError(f"could not write wheels and platforms into {MANIFEST_FILE} (does it set them twice?)")
    names = [Path(path).name for path in wheel_paths]
    version_max = blender_version_max(names, manifest["blender_version_min"])
    declared = manifest.get("blender_version_max")
    if declared != version_max:
        def described(value):
            return f'blender_version_max = "{value}"' if value else "no blender_version_max"
        raise BuildError(f"{MANIFEST_FILE} has {described(declared)}, but the bundled wheels need "
                         f"{described(version_max)} (the first Blender whose Python one of them does not run on)")
    return text


def blender_version_max(wheel_names: list[str], version_min: str) -> str | None:
    """The first Blender release from version_min on whose Python one of the wheels does not run, or None when they
    all run on every Python in BLENDER_PYTHONS and none is built for one CPython only."""
    # Start at the entry that covers version_min.
    start = max((index for index, (release, _) in enumerate(BLENDER_PYTHONS)
                 if _version_tuple(release) <= _version_tuple(version_min)), default=0)
    for index, (release, python) in enumerate(BLENDER_PYTHONS[start:]):
        failing = [name for name in wheel_names if not _runs_on(name, python)]
        if failing and index == 0:
            raise BuildError(f"{', '.join(failing)} do not run on Blender {version_min}'s Python "
                             f"{python[0]}.{python[1]}")
        if failing:
            return release
    pinned = [name for name in wheel_names if _wheel_tags(name)[1] not in ("none", "abi3")]
    if pinned:
        raise BuildError(f"{', '.join(pinned)} only run on one Python, and which Blender moves past it is unknown: "
                         "add that release to BLENDER_PYTHONS")
    return None


def download_wheels(folder: Path, platforms: list[str]) -> list[Path]:
    """Binary wheels of WHEEL_REQUIREMENTS for each platform, from PyPI through pip."""
    for platform in platforms:
        target = folder / platform
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                   "--only-binary=:all:", "--no-deps", "--python-version", BLENDER_PYTHON, "--implementation", "cp",
                   "--dest", str(target), *[f"--platform={tag}" for tag in PLATFORM_TAGS[platform]],
                   *WHEEL_REQUIREMENTS]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"pip could not download the wheels for {platform}:\n{result.stderr.strip()}")
    return wheels_from_folder(folder, platforms, recursive=True)


def wheels_from_folder(folder: Path, platforms: list[str], recursive: bool = False) -> list[Path]:
    """One wheel per requirement and platform from folder (pure wheels serve every platform); refuses a folder that
    lacks one, naming it."""
    if not folder.is_dir():
        raise BuildError(f"wheel folder {folder} does not exist")
    available = sorted(folder.glob("**/*.whl" if recursive else "*.whl"))
    chosen: dict[str, Path] = {}
    missing = []
    for platform in platforms:
        for requirement in WHEEL_REQUIREMENTS:
            wheel = _matching_wheel(available, requirement, platform)
            if wheel is None:
                missing.append(f"{requirement} ({platform})")
            else:
                chosen[wheel.name] = wheel
    if missing:
        raise BuildError(f"{folder} has no wheel for: {', '.join(missing)}; download them with `pip download "
                         f"--only-binary=:all: --no-deps --python-version {BLENDER_PYTHON} --platform TAG`, or build "
                         "without --wheel-dir")
    return sorted(chosen.values(), key=lambda path: path.name)


def _matching_wheel(wheels: list[Path], requirement: str, platform: str) -> Path | None:
    name, version = requirement.split("==")
    prefix = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-"
    for wheel in wheels:
        if not wheel.name.lower().startswith(prefix):
            continue
        if not _runs_on(wheel.name, _version_tuple(BLENDER_PYTHON)):
            continue
        if any(_platform_fits(tag, platform) for tag in _wheel_tags(wheel.name)[2].split(".")):
            return wheel
    return None


def _platform_fits(tag: str, platform: str) -> bool:
    """Whether a wheel's platform tag runs on a Blender platform (no newer than glibc 2.28 or macOS 11)."""
    if tag == "any":
        return True
    if platform == "windows-x64":
        return tag == "win_amd64"
    if platform == "linux-x64":
        match = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", tag)
        legacy = {"manylinux1_x86_64": (2, 5), "manylinux2010_x86_64": (2, 12), "manylinux2014_x86_64": (2, 17)}
        glibc = (int(match[1]), int(match[2])) if match else legacy.get(tag)
        return glibc is not None and glibc <= (2, 28)
    machines = {"macos-arm64": ("arm64", "universal2"), "macos-x64": ("x86_64", "universal2", "intel")}[platform]
    match = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", tag)
    return match is not None and match[3] in machines and (int(match[1]), int(match[2])) <= (11, 0)


def _runs_on(wheel_name: str, python: tuple[int, ...]) -> bool:
    """Whether a wheel runs on a CPython: py3 wheels on any, cp3X-abi3 on 3.X and newer, cp3X-cp3X on 3.X only."""
    python_tags, abi_tag, _ = _wheel_tags(wheel_name)
    for tag in python_tags.split("."):
        if tag == "py3":
            return True
        match = re.fullmatch(r"cp3(\d+)", tag)
        if match and (python == (3, int(match[1])) or (abi_tag == "abi3" and python >= (3, int(match[1])))):
            return True
    return False


def _wheel_tags(wheel_name: str) -> list[str]:
    """A wheel file name's python, abi and platform tags."""
    return wheel_name.removesuffix(".whl").split("-")[-3:]


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def extension_tool() -> Path:
    """blender_ext.py from the installed bpy wheel (Blender as a module)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("the Blender extension tool ships inside the bpy wheel: `pip install 'bpy==4.5.*'` "
                         "(or the project's `blender` extra)")
    for location in spec.submodule_search_locations:
        found = sorted(glob.glob(str(Path(location) / "*" / "scripts" / "addons_core" / "bl_pkg" / "cli" /
                                     "blender_ext.py")))
        if found:
            return Path(found[-1])
    raise BuildError("this bpy wheel has no scripts/addons_core/bl_pkg/cli/blender_ext.py (bpy 4.2 or newer "
                     "is needed)")


def run_extension_tool(*args: str) -> str:
    result = subprocess.run([sys.executable, str(extension_tool()), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"blender_ext {args[0]} failed:\n{(result.stdout + result.stderr).strip()}")
    return result.stdout


if __name__ == "__main__":
    sys.exit(main())
