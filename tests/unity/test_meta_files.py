"""The Unity package ships a .meta beside every asset and folder, with a fixed GUID. Without them each machine that
installs the package makes up its own GUIDs, and a material (which names its shader by GUID) or a prefab (which names
its script by GUID) made on one machine loses them on the next."""
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "unity_export"

# The importer Unity gives each kind of asset, and so the one its .meta must name.
IMPORTERS = {
    ".cs": "MonoImporter",
    ".asmdef": "AssemblyDefinitionImporter",
    ".shader": "ShaderImporter",
    ".hlsl": "ShaderIncludeImporter",
    ".md": "TextScriptImporter",
    "": "DefaultImporter",  # LICENSE: Unity imports a file without an extension with the DefaultImporter
}


def package_assets() -> list[Path]:
    """Every file and folder Unity imports from the package (it skips hidden names and names ending in ~). The
    package's root folder is no asset: Unity names it by the package, so it has no .meta."""
    return sorted(path for path in PACKAGE.rglob("*") if path.suffix != ".meta"
                  and not any(part.startswith(".") or part.endswith("~") for part in path.relative_to(PACKAGE).parts))


def meta_of(asset: Path) -> Path:
    return asset.with_name(asset.name + ".meta")


def expected_importer(asset: Path) -> str:
    if asset.is_dir():
        return "DefaultImporter"
    if asset.name == "package.json":
        return "PackageManifestImporter"
    return IMPORTERS[asset.suffix]


def read_meta(meta: Path) -> dict[str, str]:
    """The .meta's top-level keys (the importer's settings are indented under its key and left out)."""
    return dict(line.split(":", 1) for line in meta.read_text().splitlines() if line and not line.startswith(" "))


@pytest.fixture(scope="module")
def assets() -> list[Path]:
    found = package_assets()
    assert {"Runtime", "Editor", "Shaders", "package.json", "LICENSE", "README.md"} <= {a.name for a in found}
    return found


def test_every_asset_and_folder_of_the_package_has_a_meta(assets):
    missing = [str(asset.relative_to(PACKAGE)) for asset in assets if not meta_of(asset).is_file()]
    assert missing == []


def test_no_meta_is_left_without_its_asset(assets):
    metas = set(PACKAGE.rglob("*.meta"))
    assert sorted(str(meta.relative_to(PACKAGE)) for meta in metas - {meta_of(asset) for asset in assets}) == []


def test_guids_are_32_lowercase_hex_digits_and_unique(assets):
    guids = {}
    for asset in assets:
        meta = read_meta(meta_of(asset))
        assert meta["fileFormatVersion"].strip() == "2", asset
        guid = meta["guid"].strip()
        assert re.fullmatch(r"[0-9a-f]{32}", guid), (asset, guid)
        assert guid not in guids, f"{asset} has the GUID of {guids.get(guid)}"
        guids[guid] = asset


def test_each_meta_names_the_importer_of_its_kind_of_asset(assets):
    for asset in assets:
        meta = read_meta(meta_of(asset))
        importers = [key for key in meta if key.endswith("Importer")]
        assert importers == [expected_importer(asset)], asset
        assert meta.get("folderAsset", "").strip() == ("yes" if asset.is_dir() else ""), asset

