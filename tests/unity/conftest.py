"""Fixtures of the Unity package's tests (Unity itself is not available here: see csharp_build.py)."""
import pytest
from csharp_build import Assemblies, compile_package


@pytest.fixture(scope="session")
def assemblies(tmp_path_factory) -> Assemblies:
    return compile_package(tmp_path_factory.mktemp("csharp"))
