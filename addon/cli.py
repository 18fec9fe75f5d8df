"""`promptface`: the client-side command. For now it inspects expression sets; animate, render and export
arrive with the Blender scene building. Pure Python + numpy: runs without Blender and without the backend."""
import argparse
import json
import sys

from addon.core.errors import PromptFaceError
from addon.core.expression_set import read_expression_set


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="promptface", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser("inspect", help="validate an expression set (folder or .zip) and summarise it")
    inspect.add_argument("path", help="expression set folder or zip")
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    try:
        return _inspect(args.path, args.json)
    except PromptFaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _inspect(path: str, as_json: bool) -> int:
    expression_set = read_expression_set(path)
    mesh = expression_set.base_mesh
    summary = {
        "path": str(path), "format": f"{expression_set.manifest['format']}/{expression_set.manifest['version']}",
        "vertices": len(mesh.vertices), "faces": len(mesh.faces),
        "engines": {kind: value.get("name") for kind, value in expression_set.manifest["engines"].items()
                    if isinstance(value, dict) and "name" in value},
        "expressions": [{"name": e.name, "prompt": e.prompt, "metrics": e.record.get("metrics", {}),
                         "warnings": e.record.get("warnings", [])} for e in expression_set.expressions],
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{summary['path']}: {summary['format']}, {summary['vertices']} vertices, {summary['faces']} faces, "
          f"engines {summary['engines']}")
    for entry in summary["expressions"]:
        cosine = entry["metrics"].get("identity_cosine")
        identity = "" if cosine is None else f"  identity {cosine:.3f}"
        print(f"  {entry['name']:<28} {entry['prompt']!r}{identity}")
        for warning in entry["warnings"]:
            print(f"    warning: {warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
