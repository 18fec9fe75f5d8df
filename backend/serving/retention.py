"""Retention: the jobs and subjects the service removes by itself, and the removal of a job or a subject.

With settings.keep_days, finished jobs older than that go, then subjects as old that have no job left; then, while
the data dir is over settings.max_disk_bytes, the oldest finished job goes, else the oldest subject with no job.
What a queued or running job needs is never removed: only finished jobs go, and a subject only once no job is left.
"""
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, TypeVar

from addon.core.protocol import FINISHED_STATUSES
from backend.serving.data_dir import folder_bytes, job_dir, remove, subject_dir
from backend.serving.job_store import JobStore, StoredJob, StoredSubject

log = logging.getLogger(__name__)

Row = TypeVar("Row")


# -----------------------------------------------------------------------------------------------------------------
# Decisions: which rows are old, which are finished, which subjects are idle


def age_days(timestamp: str) -> float:
    """Days since an ISO timestamp of the store."""
    then = datetime.fromisoformat(timestamp)
    return (datetime.now(timezone.utc) - then).total_seconds() / 86400.0


def split_by_age(rows: list[Row], keep_days: float, timestamp_of: Callable[[Row], str]) -> tuple[list[Row], list[Row]]:
    """(the rows more than keep_days old, the others), each in the order given."""
    expired, kept = [], []
    for row in rows:
        (expired if age_days(timestamp_of(row)) > keep_days else kept).append(row)
    return expired, kept


def finished_at(row: StoredJob) -> str:
    return row.finished or row.created


def finished_jobs(store: JobStore) -> list[StoredJob]:
    """The finished jobs (succeeded, failed, cancelled), the first to finish first."""
    return sorted((row for status in FINISHED_STATUSES for row in store.jobs(status)), key=finished_at)


def idle_subjects(store: JobStore) -> list[StoredSubject]:
    """Subjects with no job left (a subject goes after its jobs, so a recent job keeps an old photo), oldest
    first."""
    return [subject for subject in store.subjects() if not store.jobs_of_subject(subject.subject_id)]


# -----------------------------------------------------------------------------------------------------------------
# Removal


def remove_job(store: JobStore, data_dir: Path, job_id: str) -> None:
    """Remove a job's files and its row (the caller knows it is finished)."""
    remove(job_dir(data_dir, job_id))
    store.delete_job(job_id)


def remove_subject(store: JobStore, data_dir: Path, subject_id: str) -> int:
    """Remove a subject's photo, its jobs (none of them queued or running) and its rows; returns how many jobs
    went."""
    jobs = store.jobs_of_subject(subject_id)
    for row in jobs:
        remove(job_dir(data_dir, row.job_id))
    remove(subject_dir(data_dir, subject_id))
    store.delete_subject(subject_id)
    return len(jobs)


def apply_retention(store: JobStore, data_dir: Path, keep_days: float, max_disk_bytes: int,
                    delete_subject: Callable[[str], object]) -> None:
    """Remove what keep_days and max_disk_bytes (0: no limit) say, as the module docstring tells. Subjects go
    through delete_subject(subject_id), which also forgets what the service keeps of them in memory. The caller
    holds the service's lock, so no job is queued meanwhile."""
    finished = finished_jobs(store)
    if keep_days > 0:
        expired, finished = split_by_age(finished, keep_days, finished_at)
        for row in expired:
            log.info("retention: removing job %s (finished %s)", row.job_id, row.finished)
            remove_job(store, data_dir, row.job_id)
        expired_subjects, _ = split_by_age(idle_subjects(store), keep_days, lambda subject: subject.created)
        for subject in expired_subjects:
            log.info("retention: removing subject %s (uploaded %s)", subject.subject_id, subject.created)
            delete_subject(subject.subject_id)
    if max_disk_bytes > 0:
        _keep_within_budget(store, data_dir, max_disk_bytes, finished, delete_subject)


def _keep_within_budget(store: JobStore, data_dir: Path, max_disk_bytes: int, finished: list[StoredJob],
                        delete_subject: Callable[[str], object]) -> None:
    """While the data dir is over max_disk_bytes, remove the oldest of `finished`, else the oldest idle subject."""
    used = folder_bytes(data_dir)
    while used > max_disk_bytes:
        if finished:
            row = finished.pop(0)
            freed = folder_bytes(job_dir(data_dir, row.job_id))
            remove_job(store, data_dir, row.job_id)
        else:
            idle = idle_subjects(store)  # now also the subjects whose last jobs just went
            if not idle:
                log.warning("the data dir holds %.1f GB, over the %.1f GB budget, all of it in use",
                            used / 1e9, max_disk_bytes / 1e9)
                break
            freed = folder_bytes(subject_dir(data_dir, idle[0].subject_id))
            delete_subject(idle[0].subject_id)
        log.info("retention: over the disk budget, removed the oldest (%.1f MB)", freed / 1e6)
        used -= freed
