"""`promptface`: the client-side commands. `animate`, `render` and `export-unity` use Blender as a module (bpy);
`inspect` needs only numpy. The backend is reached through a transport, never imported."""
import argparse
import json
import sys
from pathlib import Path

from .core.arkit import RIG_KINDS
from .core.errors import PromptFaceError
from .core.expression_set import read_expression_set


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="promptface", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    animate = commands.add_parser("animate", help="photo + prompts → face.blend, face.fbx, expression set, preview")
    animate.add_argument("inputs", nargs="+", metavar="PHOTO PROMPT",
                         help="the neutral photo, then one or more prompts (with --sample: prompts only)")
    animate.add_argument("--out", required=True, type=Path, help="output folder")
    animate.add_argument("--sample", help="a built-in sample photo instead of a file (astronaut)")
    animate.add_argument("--schedule", help='timeline, e.g. "neutral 0.5s, happy 1s, surprised 0.5s @0.3s, neutral"')
    animate.add_argument("--fps", type=int, default=30)
    animate.add_argument("--editor", default="warp")
    animate.add_argument("--reconstructor", default="landmarks")
    animate.add_argument("--keep-photo-expression", action="store_true",
                         help="keep the photo's own expression in the neutral (by default it is removed and the photo "
                              "as taken becomes the shape key 'as_photographed')")
    animate.add_argument("--no-preview", action="store_true", help="skip the Cycles preview")
    animate.add_argument("--preview-size", type=int, default=256)
    animate.add_argument("--preview-fps", type=int, default=10)
    animate.add_argument("--preview-samples", type=int, default=16)
    animate.add_argument("--pack-textures", action="store_true",
                         help="pack the textures into face.blend, so it works on its own (by default it reads them "
                              "from textures/ beside it: move face.blend together with textures/)")
    animate.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    animate.add_argument("--rig", choices=RIG_KINDS, default="prompts",
                         help="prompts (default): a shape key per prompt; arkit: the person's 52 ARKit blendshapes "
                              "as shape keys, each prompt and viseme a pose of them")
    animate.add_argument("--prompt-keys", action="store_true", help="with --rig arkit: a shape key per prompt too")
    animate.add_argument("--drive", type=Path, metavar="TAKE",
                         help="with --rig arkit: key a recorded take (Live Link Face CSV, Audio2Face JSON, or a CSV of "
                              "frame or time then ARKit columns) on the 52 keys at its own timing, instead of the "
                              "schedule")
    animate.add_argument("--drive-fps", type=float, metavar="N",
                         help="the take's rate: a Live Link Face timecode's (default 60) or a CSV frame column's "
                              "(default 30); an Audio2Face export has its own")
    animate.add_argument("--head-rotation", action="store_true",
                         help="with --drive: key the take's head rotation on the face object too")
    animate.set_defaults(run=_animate)

    render = commands.add_parser("render", help="render frames of a saved PromptFace scene (Cycles, CPU)")
    render.add_argument("blend", type=Path)
    render.add_argument("--out", required=True, type=Path)
    render.add_argument("--frames", help="A-B (default: the scene's range)")
    render.add_argument("--size", type=int, default=512)
    render.add_argument("--samples", type=int, default=16)
    render.set_defaults(run=_render)

    unity = commands.add_parser("export-unity", help="a saved PromptFace scene → FBX, textures and sidecar for the "
                                                     "PromptFace Unity package")
    unity.add_argument("blend", type=Path, help="the .blend file (e.g. shot/face.blend from `promptface animate`)")
    unity.add_argument("--out", required=True, type=Path, help="output folder (created if missing; files in it "
                                                              "are replaced)")
    unity.add_argument("--face", help="the face object's name, when the scene has several")
    unity.add_argument("--fbx-name", default="face.fbx", help="the FBX file's name (default face.fbx)")
    unity.set_defaults(run=_export_unity)

    bench = commands.add_parser("bench", help="client-side benchmarks (print ratios; never pass/fail)")
    bench.add_argument("target", choices=("scene", "rig", "disk", "animate", "transports", "all"))
    bench.add_argument("--shot", type=Path, help="for disk: an existing `promptface animate` output folder")
    bench.add_argument("--runs", type=int, default=3, help="for transports: timed jobs per transport (median)")
    bench.add_argument("--ssh-host", help="for transports: run the SSH jobs on this host (default: a throwaway "
                                          "sshd on loopback running this environment's backend)")
    bench.add_argument("--ssh-port", type=int, default=22)
    bench.add_argument("--ssh-user", help="default: your local user name")
    bench.add_argument("--ssh-key", help="private key file (default: the SSH agent and ~/.ssh keys)")
    bench.add_argument("--known-hosts", help="known_hosts file for the host key (default: ~/.ssh/known_hosts)")
    bench.add_argument("--remote-command", help="what runs on the SSH host; {command} stands for "
                                                "promptface-backend serve --stdio (the default)")
    bench.set_defaults(run=_bench)

    inspect = commands.add_parser("inspect", help="validate an expression set (folder or .zip) and summarise it")
    inspect.add_argument("path", help="expression set folder or zip")
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    inspect.set_defaults(run=lambda args: _inspect(args.path, args.json))
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except PromptFaceError as error:
        print(f"promptface: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _animate(args) -> int:
    from .animate import AnimateRequest, animate

    if args.sample:
        photo, prompts = None, args.inputs
    else:
        if len(args.inputs) < 2:
            raise PromptFaceError("give a photo and at least one prompt, e.g. "
                                  "`promptface animate face.jpg happy --out shot/`")
        photo, prompts = Path(args.inputs[0]), args.inputs[1:]
    request = AnimateRequest(prompts=prompts, out_dir=args.out, photo=photo, sample=args.sample,
                             schedule=args.schedule, fps=args.fps, editor=args.editor,
                             reconstructor=args.reconstructor, keep_photo_expression=args.keep_photo_expression,
                             preview=not args.no_preview,
                             preview_size=args.preview_size, preview_fps=args.preview_fps,
                             preview_samples=args.preview_samples, pack_textures=args.pack_textures,
                             overwrite=args.overwrite, rig=args.rig, prompt_keys=args.prompt_keys, drive=args.drive,
                             drive_fps=args.drive_fps, head_rotation=args.head_rotation)
    result = animate(request, progress=_print_progress)
    print(f"wrote {result.out_dir}:")
    for kind, path in result.files.items():
        print(f"  {kind:<15} {path}")
    print("  seconds: " + ", ".join(f"{stage} {value:.1f}" for stage, value in result.seconds.items()))
    return 0


def _render(args) -> int:
    from .render_frames import render_blend_file

    written = render_blend_file(args.blend, args.out, frames=args.frames, size=args.size, samples=args.samples,
                                progress=_print_progress)
    print(f"rendered {len(written)} frames to {args.out}")
    return 0


def _export_unity(args) -> int:
    from .scene.unity_export import export_blend_for_unity

    result = export_blend_for_unity(args.blend, args.out, face_name=args.face, fbx_name=args.fbx_name)
    print(f"wrote {args.out}:")
    for kind, path in (("fbx", result.fbx), ("sidecar", result.sidecar), ("textures", result.texture_dir)):
        print(f"  {kind:<9} {path}")
    print(f"  blendshapes with textures: {', '.join(result.expressions) or 'none'}")
    return 0


def _bench(args) -> int:
    import tempfile

    from .bench import rig, scene, transports
    with tempfile.TemporaryDirectory() as folder:
        if args.target in ("scene", "all"):
            scene.bench_scene()
        if args.target in ("rig", "all"):
            rig.bench_rig()
        shot = args.shot
        if args.target in ("animate", "all") or (args.target == "disk" and shot is None):
            shot = scene.bench_animate(Path(folder) / "shot")
        if args.target in ("disk", "all"):
            scene.bench_disk(shot)
    if args.target in ("transports", "all"):
        transports.bench_transports(runs=args.runs, ssh=_ssh_target(args, transports.SSHTarget))
    return 0


def _ssh_target(args, target_type):
    """The SSH host given on the command line, or None (the benchmark then starts its own sshd on loopback)."""
    given = [f"--{name.replace('_', '-')}" for name in ("ssh_user", "ssh_key", "known_hosts", "remote_command")
             if getattr(args, name)]
    if not args.ssh_host:
        if given or args.ssh_port != 22:
            raise PromptFaceError(f"{', '.join(given) or '--ssh-port'} needs --ssh-host")
        return None
    return target_type(host=args.ssh_host, user=args.ssh_user, port=args.ssh_port, key_file=args.ssh_key,
                       known_hosts=args.known_hosts,
                       remote_command=args.remote_command or target_type.remote_command)


def _print_progress(fraction: float, message: str) -> None:
    print(f"[{round(100 * fraction):3d}%] {message}", file=sys.stderr, flush=True)


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
