"""A set as one .zip file, for handing it on; read_expression_set reads the zip back."""
import zipfile
from os import PathLike
from pathlib import Path

from ..atomic_files import staged_file
from .reader import read_expression_set


def zip_expression_set(set_dir: str | PathLike, zip_path: str | PathLike) -> Path:
    """Zip a checked expression set folder (files at the top of the zip), atomically; returns zip_path."""
    set_dir, zip_path = Path(set_dir), Path(zip_path)
    read_expression_set(set_dir)  # refuse to package a set that readers would refuse
    members = sorted(path for path in set_dir.rglob("*") if path.is_file())
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(zip_path) as staging:
        with zipfile.ZipFile(staging, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member in members:
                # PNGs are deflated already: storing them saves the time and loses nothing.
                archive.write(member, member.relative_to(set_dir).as_posix(),
                              zipfile.ZIP_STORED if member.suffix == ".png" else zipfile.ZIP_DEFLATED)
    return zip_path
