"""The transport-neutral service on its own: life cycle and failure modes that HTTP tests do not reach."""
import time

import pytest

from addon.core.expression_set import read_expression_set
from addon.core.protocol import JobRequest
from backend.pipeline import Engines
from backend.service import Service, ServiceError, ServiceSettings


def wait(service: Service, job_id: str, until, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not until(job := service.job_status(job_id)):
        assert time.monotonic() < deadline, f"stuck: {job}"
        time.sleep(0.05)
    return job


def test_a_clean_stop_requeues_the_running_job_and_a_restart_finishes_it(tmp_path, astronaut_png):
    engines = Engines.load()
    settings = ServiceSettings(data_dir=tmp_path)
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

    service = Service(ServiceSettings(data_dir=tmp_path), engines_factory=broken)
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
