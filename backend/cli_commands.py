"""What each `promptface-backend` command does, given the arguments backend/cli.py parsed: generate an expression
set, serve the backend, write a sample photo, run a benchmark, train a LoRA adapter. Each `run_*` returns the exit
status; a PromptFaceError it raises is reported by backend/cli.py.
"""
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

from addon.core.errors import PromptFaceError
from addon.core.protocol import check_engines
from addon.core.self_check import reading_label

SAMPLES = ("astronaut",)

# Flags that set the Settings field of their name, and those given in larger units; a flag not given leaves the
# environment's or the default value.
SETTING_FLAGS = ("data_dir", "diffedit_model", "lora", "deca_folder", "host", "port", "allowed_hosts", "log_level",
                 "queue_depth", "max_prompts", "max_prompt_chars", "keep_days", "cluster", "ray_address",
                 "cluster_workers", "cpus_per_worker", "worker_timeout_s")
SCALED_SETTING_FLAGS = {"max_upload_mb": ("max_upload_bytes", 1e6), "max_megapixels": ("max_pixels", 1e6),
                        "max_disk_gb": ("max_disk_bytes", 1e9)}


def settings_from(args):
    """The Settings of this run: defaults, then PROMPTFACE_* variables, then the flags given."""
    from pydantic import ValidationError

    from backend.settings import Settings
    given = {flag: getattr(args, flag) for flag in SETTING_FLAGS if getattr(args, flag, None) is not None}
    given |= {name: round(getattr(args, flag) * unit) for flag, (name, unit) in SCALED_SETTING_FLAGS.items()
              if getattr(args, flag, None) is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        problems = "; ".join(f"{_flag_of(str(item['loc'][0]))}: {item['msg'].lower()}" for item in error.errors())
        raise PromptFaceError(f"{problems} (see --help)") from None


def _flag_of(field: str) -> str:
    """How a Settings field is given: its flag (if it has one) or its environment variable."""
    flags = {name: flag for flag, (name, _) in SCALED_SETTING_FLAGS.items()}
    flags |= {name: name for name in SETTING_FLAGS} | {"allowed_hosts": "allowed_host"}
    variable = f"PROMPTFACE_{field.upper()}"
    return f"--{flags[field].replace('_', '-')} (or {variable})" if field in flags else variable


def _diffedit_settings(args, settings, wanted: bool):
    """DiffEditSettings from the command line and Settings, or None when the diffedit editor is not wanted."""
    if not wanted:
        if args.diffedit_model or args.lora or args.diffedit_option:
            raise PromptFaceError("--diffedit-model, --lora and --diffedit-option need --editor diffedit")
        return None
    from backend.editors.diffedit_settings import DEFAULT_MODEL, settings_from_options
    return settings_from_options(args.diffedit_option, model=settings.diffedit_model or DEFAULT_MODEL,
                                 lora=settings.lora, lora_weight=args.lora_weight)


def sample_photo(name: str) -> tuple[bytes, str]:
    """A built-in sample (public domain, shipped with scikit-image) as PNG bytes and a file name."""
    from skimage import data

    from backend.subject.photo_io import encode_png_bytes
    if name not in SAMPLES:
        raise PromptFaceError(f"unknown sample '{name}'; choose one of: {', '.join(SAMPLES)}")
    return encode_png_bytes(data.astronaut()), f"{name}.png"


def run_generate(args) -> int:
    from backend.engines import Engines
    from backend.pipeline import PipelineOptions, check_inputs, generate

    if args.sample:
        photo_bytes, photo_name = sample_photo(args.sample)
        prompts = args.inputs
    else:
        if len(args.inputs) < 2:
            raise PromptFaceError("give a photo and at least one prompt, e.g. "
                                  "`promptface-backend generate face.jpg happy --out out/`")
        photo_path = Path(args.inputs[0])
        if not photo_path.is_file():
            raise PromptFaceError(f"photo '{photo_path}' does not exist or is not a file")
        photo_bytes, photo_name = photo_path.read_bytes(), photo_path.name
        prompts = args.inputs[1:]
    if not 0.0 <= args.skin_tone_strength <= 1.0:
        raise PromptFaceError(f"--skin-tone-strength {args.skin_tone_strength} is outside 0..1")
    options = PipelineOptions(editor=args.editor, reconstructor=args.reconstructor,
                              skin_tone_strength=args.skin_tone_strength, enhance=not args.no_enhance,
                              diagnostics=args.diagnostics, write_expression_objs=args.objs,
                              neutralise=not args.keep_photo_expression, rig=args.rig)
    settings = settings_from(args)
    # Before the engines load: fail fast.
    check_inputs(prompts, options, out_dir=args.out, overwrite=args.overwrite, max_prompts=settings.max_prompts)
    progress = None if args.quiet or args.json else _print_progress
    if args.deca_folder is not None and args.reconstructor != "deca":
        raise PromptFaceError("--deca-folder needs --reconstructor deca")
    engines = Engines.load(args.editor, args.reconstructor,
                           diffedit=_diffedit_settings(args, settings, wanted=args.editor == "diffedit"),
                           deca_folder=settings.deca_folder if args.reconstructor == "deca" else None)
    path = generate(photo_bytes, photo_name, prompts, args.out, engines, options, progress=progress,
                    overwrite=args.overwrite)
    manifest = json.loads((path / "manifest.json").read_text())
    if args.json:
        print(json.dumps(_summary(path, manifest), indent=2))
    else:
        _print_summary(path, manifest)
    return 0


def _print_progress(fraction: float, message: str) -> None:
    print(f"[{round(100 * fraction):3d}%] {message}", file=sys.stderr, flush=True)


def _summary(path: Path, manifest: dict) -> dict:
    return {"expression_set": str(path), "expressions": [
        {"name": e["name"], "prompt": e["prompt"], "metrics": e["metrics"], "reads_as": e.get("reads_as"),
         "warnings": e["warnings"], "seconds": round(sum(e["timings"].values()), 3)} for e in manifest["expressions"]]}


def _print_summary(path: Path, manifest: dict) -> None:
    print(f"expression set: {path}")
    print(f"{'name':<28} {'identity':>8} {'ssim':>6} {'psnr':>6} {'seconds':>8}  self-check")
    for entry in manifest["expressions"]:
        metrics = entry["metrics"]
        cosine = metrics.get("identity_cosine")
        print(f"{entry['name']:<28} {'-' if cosine is None else f'{cosine:.3f}':>8} {metrics['ssim']:>6.3f} "
              f"{metrics['psnr']:>6.1f} {sum(entry['timings'].values()):>8.2f}  "
              f"{reading_label(entry.get('weights'), entry.get('reads_as'))}")
        for warning in entry["warnings"]:
            print(f"  warning: {warning}")


def run_serve(args) -> int:
    from backend.serving.service import Service

    settings = settings_from(args)
    settings.data_dir = data_dir = settings.data_dir.expanduser()
    os.umask(0o077)  # photos and results are this user's only, whatever the shell's umask
    logging.getLogger().setLevel(settings.log_level.upper())
    from backend.engines import Engines
    if args.editor or args.reconstructor:  # one session's engines, configured as generate configures them
        check_engines(args.editor or "warp", args.reconstructor or "landmarks")
        if args.deca_folder is not None and args.reconstructor != "deca":
            raise PromptFaceError("--deca-folder needs --reconstructor deca")
        diffedit_wanted, deca_wanted = args.editor == "diffedit", args.reconstructor == "deca"
    else:  # every engine configured
        diffedit_wanted, deca_wanted = settings.diffedit_model is not None, settings.deca_folder is not None
        if not diffedit_wanted and (args.lora or args.diffedit_option):
            raise PromptFaceError("--lora and --diffedit-option need --diffedit-model (which loads the diffedit "
                                  "editor)")
    diffedit = _diffedit_settings(args, settings, wanted=diffedit_wanted)
    deca_folder = settings.deca_folder.expanduser() if deca_wanted and settings.deca_folder else None

    def engines_factory() -> Engines:
        engines = Engines.load(diffedit=diffedit, deca_folder=deca_folder)
        for name, configured in (("diffedit", diffedit), ("deca", deca_folder)):
            if configured is not None and name in engines.unavailable:
                logging.getLogger(__name__).error("%s did not load: %s", name, engines.unavailable[name])
        return engines

    engine_source = _cluster_engines(settings, engines_factory) if settings.cluster else None
    if args.stdio:  # the JSON-lines transport owns stdout from here on
        from backend.serving.stdio_server import main as serve_stdio
        return serve_stdio(Service(settings, engines_factory, engine_source))
    import uvicorn

    from backend.serving.http_api import create_app
    from backend.serving.http_api.token import load_or_create_token
    token, token_path, created = load_or_create_token(data_dir)
    if created:
        print(f"API token (shown only now; it is kept in {token_path}, readable by you only):\n  {token}", flush=True)
    else:
        print(f"API token: in {token_path}", flush=True)
    from backend.serving.http_api.gate import LOOPBACK_NAMES
    if settings.host in LOOPBACK_NAMES:
        # A DNS-rebinding page names its own host: refused.
        allowed_hosts = (*LOOPBACK_NAMES, *settings.allowed_hosts)
    else:
        allowed_hosts = tuple(settings.allowed_hosts) or None
        logging.getLogger(__name__).warning("listening on %s: anyone who can reach port %d and has the token can use "
                                            "this server; prefer an SSH tunnel", settings.host, settings.port)
    from backend.serving.data_dir_lock import data_dir_lock
    # One server per data dir: a second one would take the first one's running job for crashed.
    with data_dir_lock(data_dir, wait=0):
        app = create_app(Service(settings, engines_factory, engine_source), token, allowed_hosts)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0


def _cluster_engines(settings, engines_factory):
    """The service's engine source on a Ray cluster (serve --cluster ray)."""
    try:
        from backend.cluster.cluster_engines import ClusterEngines
        from backend.cluster.ray_pool import RayPool
    except ImportError as error:
        raise PromptFaceError(f"serve --cluster ray needs Ray ({error.name} is not installed); install it with "
                              "`pip install 'promptface[cluster]'`") from None
    pool = RayPool(engines_factory, workers=settings.cluster_workers, address=settings.ray_address,
                   cpus_per_worker=settings.cpus_per_worker, worker_timeout_s=settings.worker_timeout_s)
    return ClusterEngines(pool)


def run_sample(args) -> int:
    photo_bytes, _ = sample_photo(args.name)
    args.out.write_bytes(photo_bytes)
    return 0


def run_bench(args) -> int:
    from backend.bench import cpu as bench

    if args.runs is not None and args.runs < 1:
        raise PromptFaceError(f"--runs must be at least 1, not {args.runs}")
    if args.target == "cpu":
        photo_bytes, photo_name = sample_photo(args.sample)
        bench.bench_cpu(photo_bytes, photo_name, runs=args.runs or 5)
        return 0
    if args.target == "diffedit":
        return _bench_diffedit(args)
    if args.target == "deca":
        return _bench_deca(args)
    if args.target == "expressions":
        return _bench_expressions(args)
    if args.target == "cluster":
        try:
            from backend.bench.cluster import bench_cluster
        except ImportError as error:
            raise PromptFaceError(f"bench cluster needs Ray ({error.name} is not installed); install it with "
                                  "`pip install 'promptface[cluster]'`") from None
        photo_bytes, photo_name = sample_photo(args.sample)
        bench_cluster(photo_bytes, photo_name, runs=args.runs or 3)
        return 0
    if args.photo is not None:
        if not args.photo.is_file():
            raise PromptFaceError(f"photo '{args.photo}' does not exist or is not a file")
        photo_bytes, photo_name = args.photo.read_bytes(), args.photo.name
    else:
        photo_bytes, photo_name = sample_photo(args.sample)
    result = bench.bench_job(photo_bytes, photo_name, prompts=args.prompts or bench.JOB_PROMPTS, runs=args.runs or 3)
    bench.print_job_benchmark(result, args.json)
    return 0


def _bench_expressions(args) -> int:
    from backend.bench.expressions import LabelledPhoto, read_labels

    if args.photos is None:
        if args.labels is not None:
            raise PromptFaceError("--labels names photos of a folder: give the folder with --photos")
        with tempfile.TemporaryDirectory(prefix="promptface-bench-") as folder:
            photo_bytes, photo_name = sample_photo(args.sample)
            (Path(folder) / photo_name).write_bytes(photo_bytes)
            return _run_bench_expressions([LabelledPhoto(Path(folder) / photo_name, args.sample, "neutral")])
    if not args.photos.is_dir():
        raise PromptFaceError(f"--photos '{args.photos}' is not a folder")
    return _run_bench_expressions(read_labels(args.photos, args.labels))


def _run_bench_expressions(photos) -> int:
    from backend.bench.expressions import bench_expressions
    from backend.engines import Engines

    print(f"PromptFace expressions benchmark: {len(photos)} photos, warp editor, landmarks reconstructor")
    bench_expressions(photos, Engines.load())
    return 0


def _bench_diffedit(args) -> int:
    import torch
    from skimage import data

    from backend.bench.diffedit import bench_diffedit, print_targets
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    resolution = args.resolution or (512 if device.startswith("cuda") else 64)
    if resolution % 8 or resolution < 64 or min(args.steps + args.batches) < 1:
        raise PromptFaceError("--resolution must be a multiple of 8 from 64, --steps and --batches at least 1")
    print(f"PromptFace DiffEdit benchmark (SD 2.1-base architecture, random weights) on {device}")
    timings = bench_diffedit(data.astronaut(), device, args.dtype, resolution, args.steps, args.batches,
                             runs=args.runs or 1)
    print_targets(timings, device)
    return 0


def _bench_deca(args) -> int:
    import torch

    from backend.bench.deca import bench_deca
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtypes = [args.dtype] if args.dtype else (["float32", "float16"] if device.startswith("cuda") else ["float32"])
    for dtype in dtypes:
        bench_deca(device, dtype, runs=args.runs or 5)
    return 0


def run_train_lora(args) -> int:
    from backend.training.lora_settings import LoraTrainingSettings
    from backend.training.lora_training import train_lora

    if args.log_every < 1:
        raise PromptFaceError(f"--log-every must be at least 1, not {args.log_every}")
    names = ("rank", "epochs", "learning_rate", "batch_size", "gradient_accumulation", "mixed_precision",
             "resolution", "seed", "validation_fraction", "masked_weight", "lpips_weights", "lpips_weight",
             "keep_checkpoints", "device")
    given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.angles:
        given["angles"] = tuple(args.angles)
    settings = LoraTrainingSettings(model=args.model, data=args.data, out=args.out, resume=args.resume, **given)

    def progress(epoch: int, step: int, loss: float | None, message: str) -> None:
        if message:
            print(message, file=sys.stderr, flush=True)
        elif step % args.log_every == 0:
            print(f"epoch {epoch} step {step}: loss {loss:.5f}", file=sys.stderr, flush=True)

    result = train_lora(settings, progress)
    best = next(record for record in result.history if record.epoch == result.best_epoch)
    validation = "-" if best.validation_loss is None else f"{best.validation_loss:.5f}"
    print(f"adapter: {result.adapter}\nsummary: {result.summary}\n"
          f"best epoch: {result.best_epoch} (validation loss {validation})")
    return 0
