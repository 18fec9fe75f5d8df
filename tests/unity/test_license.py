"""The Unity package is MIT-licensed: its runtime component and shaders are compiled into players, which a GPL package
would oblige to be GPL too. The Blender add-on and the backend stay GPL-3.0-or-later."""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "unity_export"


def test_the_package_manifest_and_license_file_say_mit():
    assert json.loads((PACKAGE / "package.json").read_text())["license"] == "MIT"
    text = (PACKAGE / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) PromptFace contributors" in text
    assert "Permission is hereby granted, free of charge" in text


def test_no_file_of_the_package_carries_a_gpl_license_header():
    headers = {}
    for path in PACKAGE.rglob("*"):
        if path.is_file():
            for line in path.read_text().splitlines():
                found = re.search(r"SPDX-License-Identifier:\s*(\S+)", line)
                if found:
                    headers[str(path.relative_to(PACKAGE))] = found.group(1)
    assert {path: spdx for path, spdx in headers.items() if "GPL" in spdx.upper()} == {}

