"""A small JSON Schema validator: the subset of draft 2020-12 that PromptFace's own schemas use.

Keywords: type, const, enum, properties, required, additionalProperties (true/false), items, minItems, maxItems,
minimum, maximum, exclusiveMinimum, minLength, pattern. Anything else in a schema is refused, so a schema never
silently claims more than is checked. (The jsonschema package is not a dependency of the add-on.)
"""
import re
from numbers import Number

_TYPES = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, Number) and not isinstance(value, bool),
    "boolean": lambda value: isinstance(value, bool),
}
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description"})
_KEYWORDS = frozenset({"type", "const", "enum", "properties", "required", "additionalProperties", "items",
                       "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "minLength", "pattern"})


def schema_errors(instance, schema: dict, path: str = "$") -> list[str]:
    """Every way `instance` breaks `schema`, each as "<JSON path>: <what is wrong>"; empty when it is valid."""
    unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
    if unknown:
        raise ValueError(f"schema at {path} uses keywords this validator does not check: {sorted(unknown)}")
    expected = schema.get("type")
    if expected is not None and not _TYPES[expected](instance):
        return [f"{path}: expected {expected}, got {type(instance).__name__} {instance!r}"]
    errors = []
    if "const" in schema and instance != schema["const"]:
        errors.append(f"{path}: must be {schema['const']!r}, got {instance!r}")
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{path}: must be one of {schema['enum']!r}, got {instance!r}")
    if isinstance(instance, dict):
        errors += _object_errors(instance, schema, path)
    elif isinstance(instance, list):
        errors += _array_errors(instance, schema, path)
    elif isinstance(instance, str):
        errors += _string_errors(instance, schema, path)
    elif _TYPES["number"](instance):
        errors += _number_errors(instance, schema, path)
    return errors


def _object_errors(instance: dict, schema: dict, path: str) -> list[str]:
    properties = schema.get("properties", {})
    errors = [f"{path}: missing required property {name!r}" for name in schema.get("required", [])
              if name not in instance]
    for name, value in instance.items():
        if name in properties:
            errors += schema_errors(value, properties[name], f"{path}.{name}")
        elif schema.get("additionalProperties", True) is False:
            errors.append(f"{path}: unexpected property {name!r}")
    return errors


def _array_errors(instance: list, schema: dict, path: str) -> list[str]:
    errors = []
    if len(instance) < schema.get("minItems", 0):
        errors.append(f"{path}: needs at least {schema['minItems']} items, has {len(instance)}")
    if "maxItems" in schema and len(instance) > schema["maxItems"]:
        errors.append(f"{path}: allows at most {schema['maxItems']} items, has {len(instance)}")
    if "items" in schema:
        for index, item in enumerate(instance):
            errors += schema_errors(item, schema["items"], f"{path}[{index}]")
    return errors


def _string_errors(instance: str, schema: dict, path: str) -> list[str]:
    errors = []
    if len(instance) < schema.get("minLength", 0):
        errors.append(f"{path}: must be at least {schema['minLength']} characters long, got {instance!r}")
    if "pattern" in schema and re.search(schema["pattern"], instance) is None:
        errors.append(f"{path}: must match {schema['pattern']!r}, got {instance!r}")
    return errors


def _number_errors(instance, schema: dict, path: str) -> list[str]:
    errors = []
    if "minimum" in schema and instance < schema["minimum"]:
        errors.append(f"{path}: must be at least {schema['minimum']}, got {instance}")
    if "maximum" in schema and instance > schema["maximum"]:
        errors.append(f"{path}: must be at most {schema['maximum']}, got {instance}")
    if "exclusiveMinimum" in schema and instance <= schema["exclusiveMinimum"]:
        errors.append(f"{path}: must be above {schema['exclusiveMinimum']}, got {instance}")
    return errors
