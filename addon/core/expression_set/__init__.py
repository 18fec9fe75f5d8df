"""The expression-set format `promptface.expressions/1`: what one pipeline run writes and the add-on reads.

A folder (or the same folder zipped) holding manifest.json, base.obj (+ base.mtl), base_texture.png, the subject
photo, and per expression NAME.vertices.npy, NAME.texture.png, NAME.mask.png, NAME.edited.png and optionally
NAME.obj (+ NAME.mtl); since 1.2 optionally a rig (the ARKit-52 shapes: rig.NAME.vertices.npy, and
rig.NAME.texture.png + rig.NAME.mask.png where a shape changes the skin). See docs/design.md "The expression set".

- format.py: the format's name and version, its file names, the rule for paths inside a set
- data.py: what a writer is given (ExpressionData) and what a reader returns (ExpressionSet, Expression)
- writer.py (+ writer_checks.py): write_expression_set and ExpressionSetBuilder, atomic, checked before writing
- reader.py: read_expression_set, of a folder or a zip, refusing anything inconsistent and naming the file
- archive.py: zip_expression_set

Everything is importable from here.
"""
from .archive import zip_expression_set
from .data import Expression, ExpressionData, ExpressionSet, Rig, RigData, RigShape, RigShapeData
from .format import (BASE_MATERIAL_FILE, BASE_MESH_FILE, BASE_TEXTURE_FILE, EXPRESSION_NAME_PATTERN, FORMAT_NAME,
                     FORMAT_VERSION, MANIFEST_FILE, REQUIRED_EXPRESSION_FILES, RESERVED_NAMES, SUPPORTED_MAJOR_VERSION,
                     expression_file_names, manifest_file_names, rig_shape_file_names)
from .reader import read_expression_set
from .writer import ExpressionSetBuilder, write_expression_set

__all__ = [
    "BASE_MATERIAL_FILE", "BASE_MESH_FILE", "BASE_TEXTURE_FILE", "EXPRESSION_NAME_PATTERN", "FORMAT_NAME",
    "FORMAT_VERSION", "MANIFEST_FILE", "REQUIRED_EXPRESSION_FILES", "RESERVED_NAMES", "SUPPORTED_MAJOR_VERSION",
    "Expression", "ExpressionData", "ExpressionSet", "ExpressionSetBuilder", "Rig", "RigData", "RigShape",
    "RigShapeData", "expression_file_names", "manifest_file_names", "read_expression_set", "rig_shape_file_names",
    "write_expression_set", "zip_expression_set",
]
