"""The transport-neutral service on its own: life cycle, failure modes, removal and retention."""
import errno
import logging
import os
import sqlite3
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from skimage.data import astronaut as astronaut_rgb

import backend.serving.service as service_module
from addon.core.expression_set import read_expression_set
from addon.core.protocol import JobRequest
from backend.serving.job_store import JobStore
from backend.subject.photo_io import encode_png_bytes
from backend.engines import Engines
from backend.serving.service import Service, ServiceError
from backend.settings import Settings
from waiting import finished, wait_for


def wait(service: Service, job_id: str, until, timeout: float = 60):
    return wait_for(lambda: service.job_status(job_id), until, timeout)


def test_a_clean_stop_requeues_the_running_job_and_a_restart_finishes_it(tmp_path, astronaut_png):
    engines = Engines.load()
    settings = Settings(data_dir=tmp_path)
    service = Service(settings, engines_factory=lambda: engines)
    service.start()
    subject = service.create_subject(astronaut_png, "astronaut.png")
    prompts = ["AU12:0.8", "AU1:0.8", "AU4:0.8", "AU26:0.8", "AU15:0.8", "AU2:0.8"]
    job = service.create_job(JobRequest(subject_id=subject.subject_id, prompts=prompts))
    wait(service, job.job_id, lambda job: any(item.status == "done" for item in job.expressions))
    service.stop()
    restarted = Service(settings, engines_factory=lambda: engines)
    restarted.start()
    try:
        assert restarted.job_status(job.job_id).status in ("queued", "running")
        finished = wait(restarted, job.job_id, lambda job: job.status in ("succeeded", "failed", "cancelled"))
        assert finished.status == "succeeded", finished.error
        assert read_expression_set(restarted.set_zip_path(job.job_id)).names()[2:] == [
            item.name for item in finished.expressions]
        assert not (tmp_path / "jobs" / job.job_id / "partial").exists()  # it became result/
    finally:
        restarted.stop()


def test_engines_that_fail_to_load_are_reported_not_fatal(tmp_path, astronaut_png):
    def broken():
        raise RuntimeError("weights missing: /models/x.onnx")

    service = Service(Settings(data_dir=tmp_path), engines_factory=broken)
    with pytest.raises(ServiceError, match="not started"):
        service.create_subject(astronaut_png, "a.png")
    service.start()
    try:
        deadline = time.monotonic() + 10
        while service.health().status == "loading" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert service.health().status == "error"
        warp = next(engine for engine in service.engines().engines if engine.name == "warp")
        assert not warp.available and "weights missing" in warp.reason
        with pytest.raises(ServiceError, match="failed to load.*weights missing") as error:
            service.create_subject(astronaut_png, "a.png")
        assert error.value.code == "internal"
    finally:
        service.stop()


# ---------------------------------------------------------------------------------------------------------------
# Faults, removal and retention


@pytest.fixture(scope="module")
def engines():
    return Engines.load()


def _started(tmp_path, engines, **settings) -> Service:
    service = Service(Settings(data_dir=tmp_path, **settings), engines_factory=lambda: engines)
    service.start()
    return service


def _finished(service: Service, job_id: str):
    return wait(service, job_id, finished)


def test_a_crash_after_the_set_was_complete_finishes_the_job_on_restart(tmp_path, engines, astronaut_png):
    """What a kill between partial/ → result/ and the zip leaves: the job row still running, result/ complete, no
    zip. The restart finishes the zip and the job succeeds with every file (it used to remove result/)."""
    service = _started(tmp_path, engines)
    subject = service.create_subject(astronaut_png, "astronaut.png")
    job = _finished(service, service.create_job(JobRequest(subject.subject_id, ["AU12:0.8", "AU1:0.8"])).job_id)
    files = job.files
    service.stop()
    job_dir = tmp_path / "jobs" / job.job_id
    (job_dir / "expression-set.zip").unlink()
    JobStore(tmp_path / "store.sqlite3").update_job(job.job_id, status="running", finished=None, message="")
    restarted = _started(tmp_path, engines)
    try:
        again = restarted.job_status(job.job_id)
        assert again.status == "succeeded" and "restarted" in again.message, again
        assert again.files == files and all(item.status == "done" for item in again.expressions)
        assert read_expression_set(restarted.set_zip_path(job.job_id)).names()[2:] == [
            item.name for item in again.expressions]
    finally:
        restarted.stop()


def test_a_zip_that_cannot_be_written_fails_the_job_and_keeps_every_file(tmp_path, engines, astronaut_png,
                                                                         monkeypatch):
    """A full disk (simulated: the zip writer raises ENOSPC, as it would; this machine's disk cannot be filled
    safely) fails the job with a message that names it, and the complete set stays fetchable file by file."""
    def disk_full(set_dir, zip_path):
        raise OSError(errno.ENOSPC, "No space left on device", str(zip_path))

    monkeypatch.setattr(service_module, "zip_expression_set", disk_full)
    service = _started(tmp_path, engines)
    try:
        subject = service.create_subject(astronaut_png, "astronaut.png")
        job = _finished(service, service.create_job(JobRequest(subject.subject_id, ["AU12:0.8"])).job_id)
        assert job.status == "failed" and "No space left on device" in job.error and "are done and kept" in job.error
        assert str(tmp_path) not in job.error
        assert "manifest.json" in job.files and len(job.files) > 3
        for name in job.files:
            assert service.asset_path(job.job_id, name).is_file()
        with pytest.raises(ServiceError) as refused:
            service.set_zip_path(job.job_id)
        assert refused.value.code == "not_ready"
    finally:
        service.stop()


def test_a_subject_whose_photo_was_removed_is_named_and_the_same_photo_brings_it_back(tmp_path, engines,
                                                                                     astronaut_png):
    service = _started(tmp_path, engines)
    try:
        subject = service.create_subject(astronaut_png, "astronaut.png")
        for photo in (tmp_path / "subjects" / subject.subject_id).iterdir():
            photo.unlink()
        with pytest.raises(ServiceError) as refused:
            service.create_job(JobRequest(subject.subject_id, ["happy"]))
        assert refused.value.code == "not_found" and "upload the photo again" in refused.value.message
        assert str(tmp_path) not in refused.value.message
        assert service.create_subject(astronaut_png, "astronaut.png").subject_id == subject.subject_id
        job = _finished(service, service.create_job(JobRequest(subject.subject_id, ["AU12:0.5"])).job_id)
        assert job.status == "succeeded", job.error
    finally:
        service.stop()


def test_delete_refuses_what_a_job_needs_and_removes_the_rest(tmp_path, engines, astronaut_png):
    service = _started(tmp_path, engines, max_prompts=32)
    try:
        subject = service.create_subject(astronaut_png, "astronaut.png")
        done = _finished(service, service.create_job(JobRequest(subject.subject_id, ["AU12:0.5"])).job_id)
        long = service.create_job(JobRequest(subject.subject_id, [f"AU12:{0.03 * i:.2f}" for i in range(1, 33)]))
        wait(service, long.job_id, lambda job: job.status == "running")
        for refused_call in (lambda: service.delete_job(long.job_id),
                             lambda: service.delete_subject(subject.subject_id)):
            with pytest.raises(ServiceError) as refused:
                refused_call()
            assert refused.value.code == "not_ready" and "cancel" in refused.value.message
        assert service.delete_job(done.job_id).kind == "job"
        assert not (tmp_path / "jobs" / done.job_id).exists()
        with pytest.raises(ServiceError) as gone:
            service.job_status(done.job_id)
        assert gone.value.code == "not_found"
        service.cancel(long.job_id)
        _finished(service, long.job_id)
        deleted = service.delete_subject(subject.subject_id)
        assert (deleted.kind, deleted.jobs_deleted) == ("subject", 1)
        assert not (tmp_path / "subjects" / subject.subject_id).exists()
        assert not (tmp_path / "jobs" / long.job_id).exists()
        with pytest.raises(ServiceError):
            service.create_job(JobRequest(subject.subject_id, ["happy"]))
        with pytest.raises(ServiceError) as unknown:
            service.delete_subject(subject.subject_id)
        assert unknown.value.code == "not_found"
    finally:
        service.stop()


def _age(store_path, table: str, column: str, days: float) -> None:
    """Make every row of table look `days` old (what time would do)."""
    when = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")
    with sqlite3.connect(store_path) as database:
        database.execute(f"UPDATE {table} SET {column} = ?", (when,))


def test_retention_removes_old_finished_work_and_never_what_a_job_needs(tmp_path, engines, astronaut_png):
    service = _started(tmp_path, engines, keep_days=7, max_disk_bytes=0, max_prompts=32)
    try:
        old = service.create_subject(astronaut_png, "astronaut.png")
        old_job = _finished(service, service.create_job(JobRequest(old.subject_id, ["AU12:0.5"])).job_id)
        _age(tmp_path / "store.sqlite3", "jobs", "finished", days=8)
        _age(tmp_path / "store.sqlite3", "subjects", "created", days=8)
        busy = service.create_subject(encode_png_bytes(np.ascontiguousarray(astronaut_rgb()[:, ::-1])), "m.png")
        _age(tmp_path / "store.sqlite3", "subjects", "created", days=8)
        running = service.create_job(JobRequest(busy.subject_id, [f"AU1:{0.03 * i:.2f}" for i in range(1, 33)]))
        wait(service, running.job_id, lambda job: job.status == "running")
        service.apply_retention()
        assert not (tmp_path / "jobs" / old_job.job_id).exists()
        assert not (tmp_path / "subjects" / old.subject_id).exists()
        assert (tmp_path / "subjects" / busy.subject_id).is_dir()      # its job runs
        assert service.job_status(running.job_id).status == "running"
        # A disk budget smaller than anything: every finished job and idle subject goes, the running one stays.
        service.settings.max_disk_bytes = 1
        service.apply_retention()
        assert (tmp_path / "subjects" / busy.subject_id).is_dir() and (tmp_path / "jobs" / running.job_id).is_dir()
        service.settings.max_disk_bytes = 0  # (else the worker removes the job as soon as it is cancelled)
        service.cancel(running.job_id)
        _finished(service, running.job_id)
        service.settings.max_disk_bytes = 1
        service.apply_retention()
        assert not any((tmp_path / "subjects").iterdir()) and not any((tmp_path / "jobs").iterdir())
    finally:
        service.stop()


def test_the_data_dir_is_made_private_and_an_open_one_is_tightened(tmp_path, engines, caplog):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    with caplog.at_level(logging.WARNING, logger="backend.serving.service"):
        service = _started(data_dir, engines)
    service.stop()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700 and "open to other users" in caplog.text
    for path in (data_dir / "subjects", data_dir / "jobs"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "store.sqlite3").stat().st_mode) == 0o600


def test_uploads_beyond_the_waiting_limit_are_told_to_come_back(tmp_path, engines, astronaut_png):
    """While the worker cannot take uploads (here: still loading its engines, held until the test lets go), at most
    max_waiting_uploads wait; the next is refused at once with busy and a Retry-After."""
    loaded = threading.Event()

    def slow_engines():
        loaded.wait(60)
        return engines

    service = Service(Settings(data_dir=tmp_path, max_waiting_uploads=2), engines_factory=slow_engines)
    service.start()
    photos = [encode_png_bytes(np.ascontiguousarray(np.roll(astronaut_rgb(), shift, axis=1))) for shift in (0, 3, 6)]
    try:
        with ThreadPoolExecutor(2) as pool:
            waiting = [pool.submit(service.create_subject, photo, f"{index}.png")
                       for index, photo in enumerate(photos[:2])]
            deadline = time.monotonic() + 30
            while service.waiting_uploads < 2:
                assert time.monotonic() < deadline, "the uploads did not reach the worker's queue"
                time.sleep(0.01)
            with pytest.raises(ServiceError) as busy:
                service.create_subject(photos[2], "2.png")
            assert busy.value.code == "busy" and busy.value.retry_after >= 1
            assert service.health().status == "loading" and not any(future.done() for future in waiting)
            loaded.set()
            assert all(future.result(60).subject_id for future in waiting)
    finally:
        loaded.set()
        service.stop()
