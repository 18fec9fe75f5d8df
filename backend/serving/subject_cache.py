"""The worker's cache of prepared subjects: the last few calibrations, so that jobs of one subject calibrate once."""
import threading
from collections import OrderedDict

from backend.pipeline import PreparedSubject


class PreparedSubjects:
    """Prepared subjects by (subject_id, options), least recently used first. Thread-safe: the worker fills it and
    request threads empty it (a deleted subject)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._prepared: OrderedDict[tuple, PreparedSubject] = OrderedDict()

    def get(self, key: tuple) -> PreparedSubject | None:
        with self._lock:
            if key not in self._prepared:
                return None
            self._prepared.move_to_end(key)
            return self._prepared[key]

    def put(self, key: tuple, prepared: PreparedSubject, keep: int) -> None:
        """Add one, then drop the least recently used beyond `keep`."""
        with self._lock:
            self._prepared[key] = prepared
            while len(self._prepared) > keep:
                self._prepared.popitem(last=False)

    def forget(self, subject_id: str) -> None:
        """Drop every calibration of a subject."""
        with self._lock:
            for key in [key for key in self._prepared if key[0] == subject_id]:
                del self._prepared[key]
