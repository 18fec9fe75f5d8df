"""The scale-out files under deploy/ are checked as far as this machine can: the Slurm script is valid bash, the
Kubernetes manifest is valid YAML of the kinds KubeRay and Kubernetes expect, both start `promptface-backend serve`
with flags its parser has, and the Ray version they name is the one pyproject.toml pins."""
import re
import subprocess
import tomllib
from pathlib import Path

import yaml

from backend.cli import _parser

ROOT = Path(__file__).resolve().parents[1]
SBATCH = ROOT / "deploy" / "slurm" / "promptface-ray.sbatch"
MANIFEST = ROOT / "deploy" / "kubernetes" / "promptface-raycluster.yaml"


def serve_flags() -> set[str]:
    serve = _parser()._subparsers._group_actions[0].choices["serve"]
    return {flag for action in serve._actions for flag in action.option_strings}


def pinned_ray() -> str:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return next(spec.split("==")[1] for spec in extras["cluster"] if spec.startswith("ray=="))


def test_the_slurm_script_is_valid_bash_and_starts_the_front_with_real_flags():
    subprocess.run(["bash", "-n", str(SBATCH)], check=True)
    text = SBATCH.read_text()
    assert "ray start --head" in text and 'ray start --address="$address"' in text
    used = set(re.findall(r"(--[a-z][a-z-]+)", text.split("promptface-backend serve", 1)[1]))
    assert used - {"--nodes", "--ntasks", "--overlap"} <= serve_flags()


def test_the_kubernetes_manifest_is_a_raycluster_and_a_front_on_it():
    documents = list(yaml.safe_load_all(MANIFEST.read_text()))
    assert [document["kind"] for document in documents] == ["RayCluster", "Deployment", "Service"]
    cluster, front, _ = documents
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["spec"]["rayVersion"] == pinned_ray()
    workers = cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert workers["resources"]["limits"]["nvidia.com/gpu"] == "1"
    command = front["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["promptface-backend", "serve"]
    assert {part for part in command if part.startswith("--")} <= serve_flags()
    head_service = f"{cluster['metadata']['name']}-head-svc:6379"  # the name KubeRay gives the head's service
    assert command[command.index("--ray-address") + 1] == head_service
