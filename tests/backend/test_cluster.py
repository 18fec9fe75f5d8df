"""`serve --cluster ray`: the service's work on a real Ray cluster started on loopback by these tests, with two CPU
workers; workers killed with SIGKILL mid-job, all workers gone, the front killed and restarted, and the default path
without Ray."""
import os
import signal
import subprocess
import sys

import pytest

ray = pytest.importorskip("ray", reason="the [cluster] extra (Ray) is not installed")

from addon.core.errors import PromptFaceError  # noqa: E402
from addon.core.protocol import JobRequest  # noqa: E402
from backend.cluster.cluster_engines import ClusterEngines  # noqa: E402
from backend.cluster.ray_pool import RayPool  # noqa: E402
from backend.engines import Engines  # noqa: E402
from backend.serving.service import Service  # noqa: E402
from backend.settings import Settings  # noqa: E402
from addon.core.expression_set import read_expression_set  # noqa: E402
from test_http_server import Api, _free_port, _wait_until_up, done  # noqa: E402
from waiting import finished, wait_for  # noqa: E402

WORKERS = 2
JOB_TIMEOUT_S = 240.0


@pytest.fixture(scope="module")
def cluster():
    """A Ray cluster headed by this process on 127.0.0.1 (logical CPUs: more than the cores, so that every test's
    workers fit); its address for other processes."""
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def front(cluster, tmp_path_factory):
    """The service on two workers of the cluster, as serve --cluster ray makes it."""
    pool = RayPool(Engines.load, workers=WORKERS)
    service = Service(Settings(data_dir=tmp_path_factory.mktemp("cluster-data"), queue_depth=10),
                      engine_source=ClusterEngines(pool))
    service.start()
    wait_for(service.health, lambda health: health.status != "loading", timeout=300, what="the workers")
    yield service, pool
    service.stop()
    pool.stop()


@pytest.fixture(scope="module")
def subject_id(front, astronaut_png):
    return front[0].create_subject(astronaut_png, "astronaut.png").subject_id


def wait_job(service: Service, job_id: str):
    return wait_for(lambda: service.job_status(job_id), finished, timeout=JOB_TIMEOUT_S)


def test_twenty_jobs_at_once_all_complete_on_both_workers(front, subject_id):
    service, pool = front
    assert service.health().workers_up == WORKERS
    prompts = [["happy", "AU26:0.5"], ["sad", "AU12:0.4"]]
    jobs = [service.create_job(JobRequest(subject_id=subject_id, prompts=prompts[index % 2])) for index in range(20)]
    assert len({job.job_id for job in jobs}) == 20
    results = [wait_job(service, job.job_id) for job in jobs]
    assert [result.status for result in results] == ["succeeded"] * 20, [result.message for result in results]
    for job, asked in zip(jobs, [prompts[index % 2] for index in range(20)], strict=True):
        names = read_expression_set(service.set_zip_path(job.job_id)).names()
        assert names[-2:] == [expression.name for expression in service.job_status(job.job_id).expressions]
        assert len(names) == len(set(names)) and names[0] == "neutral", (asked, names)
    workers = service.engines().workers
    assert len(workers) == WORKERS and all(worker.up and worker.expressions_done > 0 for worker in workers)
    assert sum(worker.expressions_done for worker in workers) >= 40


def test_a_worker_killed_mid_job_loses_no_expression_and_writes_none_twice(front, subject_id):
    service, pool = front
    prompts = [f"AU{unit}:0.7" for unit in (1, 2, 4, 12, 15, 26)]
    job = service.create_job(JobRequest(subject_id=subject_id, prompts=prompts))
    wait_for(lambda: service.job_status(job.job_id), lambda seen: sum(item.status == "done" for item in
                                                                     seen.expressions) >= 1, timeout=JOB_TIMEOUT_S)
    victim = pool.describe()[0]["pid"]  # both workers are busy: four prompts are left for two of them
    os.kill(victim, signal.SIGKILL)
    result = wait_job(service, job.job_id)
    assert result.status == "succeeded", result.message
    expression_set = read_expression_set(service.set_zip_path(job.job_id))
    made = [name for name in expression_set.names() if name.startswith("au")]
    assert made == [expression.name for expression in result.expressions] and len(made) == 6  # once each, in order
    # Ray restarted the killed worker in a new process.
    back = wait_for(pool.describe, lambda described: all(described), timeout=JOB_TIMEOUT_S, what="the workers")
    assert victim not in [worker["pid"] for worker in back]


def test_when_every_worker_is_gone_the_job_waits_for_them(front, subject_id):
    service, pool = front
    job = service.create_job(JobRequest(subject_id=subject_id, prompts=["happy", "sad", "surprised", "angry",
                                                                         "afraid"]))
    wait_for(lambda: service.job_status(job.job_id), lambda seen: sum(item.status == "done" for item in
                                                                     seen.expressions) >= 1, timeout=JOB_TIMEOUT_S)
    for worker in pool.describe():
        os.kill(worker["pid"], signal.SIGKILL)
    result = wait_job(service, job.job_id)  # Ray starts them again; they pick the work up
    assert result.status == "succeeded", result.message
    assert len(read_expression_set(service.set_zip_path(job.job_id)).names()) >= 5


def test_with_no_worker_left_a_job_fails_with_a_clear_message(cluster, astronaut_png, tmp_path):
    pool = RayPool(Engines.load, workers=1, worker_timeout_s=3.0)
    service = Service(Settings(data_dir=tmp_path), engine_source=ClusterEngines(pool))
    service.start()
    try:
        wait_for(service.health, lambda health: health.status == "ok", timeout=300, what="the worker")
        subject = service.create_subject(astronaut_png, "astronaut.png")
        for worker in pool.workers:
            ray.kill(worker, no_restart=True)
        job = service.create_job(JobRequest(subject_id=subject.subject_id, prompts=["happy"]))
        result = wait_job(service, job.job_id)
        assert result.status == "failed" and "no cluster worker has finished anything for 3 s" in result.error
        assert "ray start --address" in result.error
    finally:
        service.stop()


@pytest.mark.slow  # two fronts, each starting its worker
def test_a_front_killed_mid_job_reports_the_job_and_runs_the_next(cluster, astronaut_png, tmp_path):
    data_dir, port = tmp_path / "data", _free_port()
    command = [sys.executable, "-m", "backend.cli", "serve", "--data-dir", str(data_dir), "--port", str(port),
               "--log-level", "warning", "--cluster", "ray", "--ray-address", cluster, "--cluster-workers", "1"]
    api = Api(f"http://127.0.0.1:{port}", token=None)
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_up(api, first)
        api.token = (data_dir / "token").read_text().strip()
        assert api.get("/v1/health").json()["workers_up"] == 1
        subject = api.subject(astronaut_png)
        killed = api.job(subject["subject_id"], [f"AU{unit}:0.8" for unit in (1, 2, 4, 5, 6, 9, 12, 15)])
        api.wait(killed["job_id"], until=lambda job: done(job) >= 1)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
    finally:
        first.kill()
        first.communicate()
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_up(api, second)
        job = api.get(f"/v1/jobs/{killed['job_id']}").json()
        assert job["status"] == "failed" and "interrupted by a server restart" in job["error"]
        again = api.job(subject["subject_id"], ["happy"])
        assert api.wait(again["job_id"])["status"] == "succeeded"
    finally:
        second.kill()
        second.communicate()


def test_without_cluster_ray_is_not_imported():
    code = ("import sys, backend.cli, backend.cli_commands, backend.serving.service, backend.serving.http_api, "
            "backend.serving.stdio_server; assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_wrong_cluster_address_is_refused_at_once_and_named_only_in_the_log():
    from backend.cluster.ray_pool import check_reachable

    with pytest.raises(PromptFaceError, match=r"no Ray cluster answers at 127.0.0.1:1 .*start its head"):
        check_reachable("127.0.0.1:1")
    with pytest.raises(PromptFaceError, match="is not HOST:PORT"):
        check_reachable("head-node")
    code = ("from backend.cluster.cluster_engines import ClusterEngines; from backend.cluster.ray_pool import RayPool; "
            "from backend.engines import Engines; engines = ClusterEngines(RayPool(Engines.load, "
            "address='127.0.0.1:1')); print(engines.load()); print(engines.error)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    loaded, error = run.stdout.splitlines()
    assert loaded == "False" and "could not be used" in error and "127.0.0.1" not in error
    assert "no Ray cluster answers at 127.0.0.1:1" in run.stderr  # the operator's log
