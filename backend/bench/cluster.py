"""`promptface-backend bench cluster`: what the Ray cluster buys and costs on this machine. Prints; never asserts.

Throughput: expressions per second of a burst of jobs on 1 and on 2 Ray workers (a local Ray started here), the
ratio 2:1. Latency: one job's seconds from submission to success on the in-process service and on one Ray worker,
the ratio cluster : in-process — what Ray adds (the subject through the object store, a call per prompt, the results
back). All in the same run, the subject calibrated once per service before the clock starts.
"""
import statistics
import tempfile
import time
from pathlib import Path

from addon.core.protocol import JobRequest
from backend.engines import Engines
from backend.serving.service import Service
from backend.settings import Settings

BURST_JOBS = 6
PROMPTS = ["happy", "sad", "AU26:0.5", "surprised"]


def bench_cluster(photo_bytes: bytes, photo_name: str, runs: int = 3, cpus_per_worker: float = 1.0) -> None:
    import ray

    from backend.cluster.cluster_engines import ClusterEngines
    from backend.cluster.ray_pool import RayPool

    ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        with tempfile.TemporaryDirectory(prefix="promptface-bench-cluster-") as folder:
            local = _measure(Service(Settings(data_dir=Path(folder) / "local", queue_depth=64)), photo_bytes,
                             photo_name, runs, burst=False)
            measured = {}
            for workers in (1, 2):
                pool = RayPool(Engines.load, workers=workers, cpus_per_worker=cpus_per_worker)
                service = Service(Settings(data_dir=Path(folder) / f"ray-{workers}", queue_depth=64),
                                  engine_source=ClusterEngines(pool))
                measured[workers] = _measure(service, photo_bytes, photo_name, runs, burst=True)
                pool.stop()
    finally:
        ray.shutdown()
    one, two = measured[1], measured[2]
    print(f"throughput, {BURST_JOBS} jobs × {len(PROMPTS)} prompts at once ({runs} runs, median):")
    print(f"  1 Ray worker:  {one['rate']:.2f} expressions/s")
    print(f"  2 Ray workers: {two['rate']:.2f} expressions/s   ratio 2:1 = {two['rate'] / one['rate']:.2f}")
    print(f"latency of one job of {len(PROMPTS)} prompts, submission to success:")
    print(f"  in-process service: {local['latency']:.2f} s")
    print(f"  1 Ray worker:       {one['latency']:.2f} s   ratio cluster:in-process = "
          f"{one['latency'] / local['latency']:.2f}")


def _measure(service: Service, photo_bytes: bytes, photo_name: str, runs: int, burst: bool) -> dict:
    service.start()
    try:
        while service.health().status == "loading":
            time.sleep(0.1)
        subject = service.create_subject(photo_bytes, photo_name)
        _run_jobs(service, subject.subject_id, 1)  # warm: calibration cached, text model loaded
        latencies = [_run_jobs(service, subject.subject_id, 1) for _ in range(runs)]
        rates = []
        if burst:
            for _ in range(runs):
                seconds = _run_jobs(service, subject.subject_id, BURST_JOBS)
                rates.append(BURST_JOBS * len(PROMPTS) / seconds)
        return {"latency": statistics.median(latencies), "rate": statistics.median(rates) if rates else None}
    finally:
        service.stop()


def _run_jobs(service: Service, subject_id: str, count: int) -> float:
    """Seconds from submitting `count` jobs to the last one's success."""
    start = time.perf_counter()
    jobs = [service.create_job(JobRequest(subject_id=subject_id, prompts=PROMPTS)) for _ in range(count)]
    for job in jobs:
        while (status := service.job_status(job.job_id)).status not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.1)  # the polling shares the in-process worker's interpreter: keep it light
        if status.status != "succeeded":
            raise RuntimeError(f"a benchmark job ended {status.status}: {status.error}")
    return time.perf_counter() - start
