"""Crash recovery when the service starts: settle the jobs that a crash (or a kill) left marked running.

A job whose result/ exists was complete (partial/ is renamed to result/ in one step): only its zip was left to do,
so it is finished now and succeeds. Any other one is marked failed and keeps partial/, the expressions it had done.
"""
import logging
from pathlib import Path
from typing import Callable

from addon.core.errors import PromptFaceError
from addon.core.expression_set import MANIFEST_FILE
from backend.errors import public_message
from backend.serving.data_dir import ZIP_FILE, job_dir, remove
from backend.serving.job_store import JobStore, now

log = logging.getLogger(__name__)


def recover_running_jobs(store: JobStore, data_dir: Path, finish: Callable[[str, list[dict], str], None],
                         fail: Callable[[str, str], None]) -> None:
    """Settle every job the store has as running. finish(job_id, expressions, message) zips a complete set and
    marks the job succeeded; fail(job_id, error) marks it failed (the service's own, as for a job it runs)."""
    for row in store.jobs("running"):
        folder = job_dir(data_dir, row.job_id)
        for leftover in [*folder.glob(".*"), *(folder / "partial").glob(".*"), *(folder / "result").glob(".*")]:
            remove(leftover)  # hidden = temporary files of unfinished writes
        if (folder / "result" / MANIFEST_FILE).is_file():
            log.warning("job %s was running when the server stopped, its set complete; finishing it", row.job_id)
            expressions = [{**item, "status": "done"} for item in row.expressions]
            try:
                finish(row.job_id, expressions, "done (finished when the server restarted)")
            except PromptFaceError as error:  # result/ is not a readable set after all
                fail(row.job_id, public_message(str(error), data_dir))
            continue
        done = sum(item["status"] == "done" for item in row.expressions)
        remove(folder / ZIP_FILE)
        store.update_job(
            row.job_id, status="failed", finished=now(), message="interrupted",
            error=f"interrupted by a server restart (the server stopped while this job ran, after {done} of "
                  f"{len(row.expressions)} expressions; those are kept in its partial set); submit it again")
        log.warning("job %s was running when the server stopped; marked failed", row.job_id)
