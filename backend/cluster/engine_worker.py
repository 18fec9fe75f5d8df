"""One Ray worker: a process that holds a warm set of engines and runs the pipeline's stages for the front.

Ray Core actors, not Ray Serve: the front already is the server (its HTTP and JSON-lines APIs, store, token, limits
and results stay as they are); what it needs from Ray is a pool of long-lived processes, each owning its engines and
its GPU, placed by Ray and restarted by Ray when one dies. That is what an actor is. Ray Serve would add a second
HTTP layer, its own replicas' routing and autoscaling, none of which the front can use.

The calibrated subject travels through Ray's object store: the front puts it once per job and every worker's tasks
read the same copy (no worker affinity to keep, and a restarted worker needs nothing from the dead one).
"""
import os
import socket
from typing import Callable

from addon.core.arkit import ARKIT_RIG
from backend.engines import Engines
from backend.pipeline import (GeneratedExpression, PipelineOptions, PreparedSubject, arkit_rig_of, check_inputs,
                              edit_photos, finish_expression, prepare_subject, set_header)


class EngineWorker:
    """The actor's class (made remote by backend/cluster/ray_pool.py, which sets its resources)."""

    def __init__(self, engines_factory: Callable[[], Engines]):
        self.engines = engines_factory()
        self.expressions_done = 0

    def describe(self) -> dict:
        """What this worker is and holds: its process, node, GPUs, the engines loaded and those that are not."""
        import ray

        return {"pid": os.getpid(), "node": socket.gethostname(), "gpus": [str(gpu) for gpu in ray.get_gpu_ids()],
                "editors": sorted(self.engines.editors), "reconstructors": sorted(self.engines.reconstructors),
                "unavailable": dict(self.engines.unavailable), "expressions_done": self.expressions_done}

    def check(self, prompts: list[str], options: PipelineOptions) -> None:
        """The request's prompts and engines against what this worker holds (PromptFaceError if not)."""
        check_inputs(prompts, options, self.engines)

    def prepare(self, photo_bytes: bytes, photo_name: str, options: PipelineOptions) -> PreparedSubject:
        """Steps 1–4 (with the rig when the options ask for it), for the front to put in the object store."""
        prepared = prepare_subject(photo_bytes, photo_name, self.engines, options)
        if options.rig == ARKIT_RIG:
            arkit_rig_of(prepared, self.engines, options)
        return prepared

    def header(self, prepared: PreparedSubject, options: PipelineOptions) -> dict:
        """The set's header (subject, engines, base), as the pipeline writes it."""
        return set_header(prepared, options, self.engines)

    def expression(self, prepared: PreparedSubject, name: str, prompt: str,
                   options: PipelineOptions) -> GeneratedExpression:
        """Steps 5–9 for one prompt."""
        if prepared.arkit_rig is None and options.rig == ARKIT_RIG:
            raise RuntimeError("the prepared subject came without its rig")
        editor = self.engines.editor_for(options.editor)
        edited = edit_photos(prepared.subject, [(name, prompt)], editor, self.engines)[0]
        result = finish_expression(prepared, edited, self.engines, options)
        self.expressions_done += 1
        return result
