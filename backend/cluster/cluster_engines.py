"""The service's engines on a Ray cluster (`promptface-backend serve --cluster ray`): the same face as
backend/serving/loaded_engines.py's LoadedEngines, with the work on the pool's workers.

The front keeps everything else as it is: the store, the token, the limits, and the expression set, which it writes
itself, atomically, one expression at a time in the job's order (backend/pipeline.py grow_expression_set), from
results the workers send back.
"""
import logging
from pathlib import Path

from addon.core.errors import PromptFaceError
from addon.core.protocol import EDITORS, RECONSTRUCTORS, EngineInfo, EngineList, WorkerInfo
from backend.errors import public_message
from backend.pipeline import PipelineOptions, PreparedSubject, grow_expression_set
from backend.cluster.ray_pool import LOAD_TIMEOUT_S, RayPool, prepared_in_store
from backend.serving.errors import ServiceError

log = logging.getLogger(__name__)

# What clients (health, engines: open to anyone) learn of a cluster that could not be used; the log has the details.
CLUSTER_UNUSABLE = "the Ray cluster could not be used (its address or its workers); the server log says why"


class WorkerEngineNames:
    """What check_inputs asks of loaded engines (editor_for, reconstructor_for), answered from the workers'
    descriptions: an engine is there when some worker holds it."""

    def __init__(self, described: list[dict]):
        self.editors = {name for worker in described for name in worker["editors"]}
        self.reconstructors = {name for worker in described for name in worker["reconstructors"]}
        self.unavailable = {name: reason for worker in described for name, reason in worker["unavailable"].items()}

    def editor_for(self, name: str):
        return self._held(name, self.editors, "editor")

    def reconstructor_for(self, name: str):
        return self._held(name, self.reconstructors, "reconstructor")

    def _held(self, name: str, held: set[str], kind: str) -> str:
        if name not in held:
            raise PromptFaceError(self.unavailable.get(name, f"the {kind} '{name}' is not loaded on any worker"))
        return name


class ClusterEngines:
    def __init__(self, pool: RayPool):
        self.pool = pool
        self.error: str | None = None
        self._described: list[dict | None] = []

    def load(self) -> bool:
        """Start the workers and wait until each has loaded its engines; False (the reason in error) when none
        could."""
        try:
            self.pool.start()
            self._described = self.pool.describe(timeout_s=LOAD_TIMEOUT_S)
        except PromptFaceError as error:  # the server's own log names the address; clients are told less
            log.error("the cluster cannot be used: %s", error)
            self.error = CLUSTER_UNUSABLE
            return False
        except Exception:
            log.exception("the cluster's workers failed to start")
            self.error = CLUSTER_UNUSABLE
            return False
        missing = sum(1 for worker in self._described if worker is None)
        if missing:
            log.error("%d of %d Ray workers did not load their engines (their log on the cluster says why)", missing,
                      len(self._described))
        if missing == len(self._described):
            self.error = CLUSTER_UNUSABLE
            return False
        return True

    def described(self) -> list[dict | None]:
        """The workers now (None: not answering), kept for the engine-name checks."""
        if self.pool.workers:
            self._described = self.pool.describe()
        return self._described

    def checker(self) -> WorkerEngineNames | None:
        up = [worker for worker in self._described if worker]
        return WorkerEngineNames(up) if up else None

    def capacity(self) -> int:
        return max(1, sum(1 for worker in self._described if worker))

    def workers_up(self) -> int:
        return sum(1 for worker in self.described() if worker)

    def listing(self, data_dir: Path) -> EngineList:
        described = self.described()
        up = [worker for worker in described if worker]
        names = WorkerEngineNames(up)
        reason = None if up else public_message(self.error or "no cluster worker is up", data_dir)
        listed = [EngineInfo(name, "editor", name in names.editors,
                             None if name in names.editors else reason or names.unavailable.get(name))
                  for name in EDITORS]
        listed += [EngineInfo(name, "reconstructor", name in names.reconstructors,
                              None if name in names.reconstructors else reason or names.unavailable.get(name))
                   for name in RECONSTRUCTORS]
        workers = [WorkerInfo(worker=index, up=worker is not None, gpus=len(worker["gpus"]) if worker else 0,
                              editors=worker["editors"] if worker else [],
                              reconstructors=worker["reconstructors"] if worker else [],
                              expressions_done=worker["expressions_done"] if worker else 0)
                   for index, worker in enumerate(described)]
        return EngineList(engines=listed, workers=workers)

    def prepare(self, photo_bytes: bytes, photo_name: str, options: PipelineOptions,
                data_dir: Path) -> PreparedSubject:
        self._check_loaded(data_dir)
        return self.pool.call("prepare", photo_bytes, photo_name, options)

    def generate(self, prepared: PreparedSubject, prompts: list[str], out_dir: Path, options: PipelineOptions,
                 data_dir: Path, progress=None, on_expression=None, should_cancel=None, partial_dir=None) -> Path:
        """The job's set written here from the workers' results: the subject goes once into Ray's object store,
        each prompt to a worker."""
        self._check_loaded(data_dir)
        report = progress or (lambda fraction, message: None)
        self.pool.call("check", prompts, options)
        stored = prepared_in_store(prepared)
        header = self.pool.call("header", stored, options)

        def produce(work, stop_if_asked):
            return self.pool.expressions(stored, work, options, stop_if_asked)

        return grow_expression_set(prepared, prompts, Path(out_dir), header, produce, report, rig=prepared.arkit_rig,
                                   diagnostics=options.diagnostics, on_expression=on_expression,
                                   should_cancel=should_cancel, partial_dir=partial_dir)

    def _check_loaded(self, data_dir: Path) -> None:
        if not self.pool.workers:
            raise ServiceError("internal", f"the cluster's workers did not start "
                                           f"({public_message(self.error or '', data_dir)}); see the server log")
