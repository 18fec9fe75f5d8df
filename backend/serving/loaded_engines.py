"""The service's engines: loaded once by the worker thread, or the error that stopped them, and how clients see them.

`EngineSource` is what the service asks of them; `LoadedEngines` runs the work in this process,
`backend.cluster.cluster_engines.ClusterEngines` on a Ray cluster's workers."""
import logging
from pathlib import Path
from typing import Callable, Protocol

from addon.core.protocol import EDITORS, RECONSTRUCTORS, EngineInfo, EngineList
from backend.engines import Engines
from backend.errors import public_message
from backend.pipeline import PipelineOptions, PreparedSubject, generate_expressions, prepare_subject
from backend.serving.errors import ServiceError

log = logging.getLogger(__name__)


class EngineSource(Protocol):
    """Where the service's jobs run. load() is called once, on the service's worker thread, which then calls
    prepare() and generate() — both with the pipeline's own arguments."""
    error: str | None

    def load(self) -> bool: ...

    def checker(self):
        """What check_job_request checks engine names against (editor_for/reconstructor_for), None while loading."""

    def capacity(self) -> int:
        """How many jobs' worth of work runs at once (the queue limit is multiplied by it)."""

    def listing(self, data_dir: Path) -> EngineList: ...

    def workers_up(self) -> int | None: ...

    def prepare(self, photo_bytes: bytes, photo_name: str, options: PipelineOptions,
                data_dir: Path) -> PreparedSubject: ...

    def generate(self, prepared: PreparedSubject, prompts: list[str], out_dir: Path, options: PipelineOptions,
                 data_dir: Path, **callbacks) -> Path: ...


class LoadedEngines:
    """The engines from engines_factory() once load() has run, else None; error says why loading failed."""

    def __init__(self, engines_factory: Callable[[], Engines]):
        self._engines_factory = engines_factory
        self.engines: Engines | None = None
        self.error: str | None = None

    def load(self) -> bool:
        """Load the engines; False when that failed (logged, and kept in error for health, engines and every job,
        instead of killing the worker)."""
        try:
            self.engines = self._engines_factory()
            return True
        except Exception as error:
            log.exception("the engines failed to load")
            self.error = f"{type(error).__name__}: {error}"
            return False

    def ready(self, data_dir: Path) -> Engines:
        """The engines, or a ServiceError saying why there are none (naming no folder under data_dir)."""
        if self.engines is None:
            reason = public_message(self.error or "", data_dir)
            raise ServiceError("internal", f"the engines failed to load ({reason}); "
                                           "see the server log, fix it and restart the server")
        return self.engines

    def checker(self) -> Engines | None:
        return self.engines

    def capacity(self) -> int:
        return 1

    def workers_up(self) -> None:
        return None

    def prepare(self, photo_bytes: bytes, photo_name: str, options: PipelineOptions,
                data_dir: Path) -> PreparedSubject:
        return prepare_subject(photo_bytes, photo_name, self.ready(data_dir), options)

    def generate(self, prepared: PreparedSubject, prompts: list[str], out_dir: Path, options: PipelineOptions,
                 data_dir: Path, **callbacks) -> Path:
        """generate_expressions in this process; callbacks: its progress, on_expression, should_cancel and
        partial_dir."""
        return generate_expressions(prepared, prompts, out_dir, self.ready(data_dir), options, **callbacks)

    def listing(self, data_dir: Path) -> EngineList:
        """Every engine with whether it can be used now, and why not."""
        # Open to anyone (no token): reasons name no folders of this machine.
        load_error = (public_message(f"the engines failed to load: {self.error}", data_dir)
                      if self.error else None)
        not_loaded = ({name: public_message(reason, data_dir) for name, reason in self.engines.unavailable.items()}
                      if self.engines is not None else {})
        listed = [EngineInfo(name, "editor", load_error is None and name not in not_loaded,
                             load_error or not_loaded.get(name)) for name in EDITORS]
        listed += [EngineInfo(name, "reconstructor", load_error is None and name not in not_loaded,
                              load_error or not_loaded.get(name)) for name in RECONSTRUCTORS]
        return EngineList(engines=listed)
