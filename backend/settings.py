"""The backend's one configuration: every default written here once; PROMPTFACE_* environment variables over the
defaults (what commands other tools start — `promptface animate`, the panel's local and SSH backends — read on the
machine that runs them); command-line flags over both (backend/cli.py passes only the flags given).
"""
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.subject.photo_io import MAX_PIXELS

def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "promptface"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMPTFACE_", extra="ignore", populate_by_name=True)

    # Where jobs, subjects, results and the API token live (PROMPTFACE_DATA_DIR; PROMPTFACE_DATA is read too).
    data_dir: Path = Field(default_factory=_default_data_dir,
                           validation_alias=AliasChoices("PROMPTFACE_DATA_DIR", "PROMPTFACE_DATA"))
    # Weights, configured by path or Hub id: never downloaded here.
    diffedit_model: str | None = None   # a diffusers folder or a Hub id in the local cache; set: diffedit loads
    lora: Path | None = None            # a LoRA adapter for the diffedit editor
    deca_folder: Path | None = None     # DECA's and FLAME's files; set: the deca reconstructor loads

    # The HTTP server.
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    allowed_hosts: tuple[str, ...] = ()  # names clients may address besides localhost (see serving/http_api/gate)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Limits of a job and of the queue.
    queue_depth: int = Field(8, ge=1)             # jobs waiting (not counting the one running); 429 beyond
    max_prompts: int = Field(16, ge=1)            # prompts per job or run
    max_prompt_chars: int = Field(200, ge=1)
    max_upload_bytes: int = Field(20_000_000, ge=1)
    max_pixels: int = Field(MAX_PIXELS, ge=1)
    max_request_bytes: int = Field(1_000_000, ge=1)  # the largest JSON body or JSON line (an upload has its own)
    max_waiting_uploads: int = Field(4, ge=1)     # uploads waiting for a calibration at once; busy (503) beyond
    upload_wait_seconds: float = Field(600.0, gt=0)   # an upload waits this long for the worker, then is busy
    subject_cache: int = Field(8, ge=1)           # prepared subjects kept in memory

    # Retention: finished jobs and the photos no job uses any more.
    keep_days: float = Field(7.0, ge=0)                    # older ones are removed (0: kept forever)
    max_disk_bytes: int = Field(20_000_000_000, ge=0)      # past this the oldest go first (0: no budget)

    # The work on a Ray cluster (serve --cluster ray; the [cluster] extra): the front keeps the API and the store.
    cluster: Literal["ray"] | None = None
    ray_address: str | None = None          # a running cluster's head (HOST:6379, or "auto"); None: a local Ray here
    cluster_workers: int | None = Field(None, ge=1)   # default: one per GPU, else one per cpus_per_worker cores
    cpus_per_worker: float = Field(1.0, gt=0)         # a CPU worker's cores
    worker_timeout_s: float = Field(600.0, gt=0)      # a job fails when no worker finishes anything for this long
