"""The service's engines: loaded once by the worker thread, or the error that stopped them, and how clients see them."""
import logging
from pathlib import Path
from typing import Callable

from addon.core.protocol import EDITORS, RECONSTRUCTORS, EngineInfo, EngineList
from backend.engines import Engines
from backend.errors import public_message
from backend.serving.errors import ServiceError

log = logging.getLogger(__name__)


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
