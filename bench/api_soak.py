"""API soak: concurrent token clients edit lines and read queues while a worker and Redis are killed.

    .venv/bin/python bench/api_soak.py                          # 16 clients, 5 minutes
    .venv/bin/python bench/api_soak.py --minutes 0.5 --clients 4   # a smoke run

It starts its own stack (bench/served_stack.py): the dev stack's embedded PostgreSQL and Redis
and its Celery workers and beat, all supervised as `make run` supervises them (one that dies is
started again after a back-off), and gunicorn with `--web-workers` sync workers on loopback. A
project starts with the base models and `--pages` synthetic pages of eight lines, pre-annotated
by the gpu worker before the clients start (the line and page queues are full).

`--clients` clients, each a reviewer with an API token of their own, one request at a time:

- edit (half of what they do): read a line, PATCH its text with the version read; a 409 carries
  the line as it is now, and the edit is applied again on that version (up to 5 times);
- read: the line queue, the page queue, a page of the page list, one line;
- one more client asks for a prediction job (a page image, run on the gpu worker) every
  `--job-every` seconds.

Faults, at fixed points of the run: at 30 % a prediction job is asked for, and once it is
running the gpu worker is SIGKILLed (the supervisor starts it again); at 60 % redis-server is
SIGKILLed (started again too; its append-only file keeps what it had taken). The watchdogs run
every 5 s and hand queued work over again after 20 s (INKLOOP_WATCHDOG_INTERVAL,
INKLOOP_QUEUED_HANDOVER_SECONDS: a 5-minute run cannot wait the production 15 minutes).

Then it waits up to `--settle` seconds for the work to finish and checks what was left behind:
prediction jobs or training runs still queued or running, outbox messages never sent, an
acknowledged PATCH whose revision (line, version, text) is not in PostgreSQL or a line whose
text is not its last acknowledged edit, and files in storage that no row refers to. Prints
throughput, p50/p95 per kind of request, status counts (a 5xx is a failure), the faults with
what clients saw meanwhile, and a JSON line.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import requests  # noqa: E402

from bench.served_stack import ServedStack, machine, percentile, served_stack, wait_until  # noqa: E402

# Short enough for a run of minutes; what the fault tests use too (tests/workers/test_broker_outage.py).
STACK_ENV = {"INKLOOP_WATCHDOG_INTERVAL": "5", "INKLOOP_QUEUED_HANDOVER_SECONDS": "20",
             "INKLOOP_OUTBOX_SWEEP_SECONDS": "2", "INKLOOP_OUTBOX_SWEEP_AFTER_SECONDS": "2", "OMP_NUM_THREADS": "1"}
MAX_RETRIES = 5
TEXT = ["Je soussigné, sain d'esprit,", "lègue à mon neveu Pierre", "la maison et le jardin", "de la rue des Carmes,",
        "et à ma servante Marie", "cent livres de rente.", "Fait à Paris, le douze mai", "mil sept cent quarante."]


@dataclass
class Call:
    kind: str
    started: float
    seconds: float
    status: int          # 0: no answer (connection refused or reset, timeout)


@dataclass
class Record:
    calls: list[Call] = field(default_factory=list)
    edits: list[tuple[int, int, str]] = field(default_factory=list)   # acknowledged: line id, version, text
    conflicts: int = 0
    gave_up: int = 0
    jobs: list[int] = field(default_factory=list)
    unexpected: dict[str, str] = field(default_factory=dict)   # "kind status": the first such answer's body
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)


class Client:
    def __init__(self, *, url: str, token: str, project_id: int, record: Record):
        self.url, self.project_id, self.record = url, project_id, record
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, kind: str, method: str, path: str, **kwargs) -> requests.Response | None:
        started = time.time()
        try:
            answer = self.session.request(method, f"{self.url}/api/projects/{self.project_id}/{path}", timeout=60,
                                          **kwargs)
        except requests.RequestException:
            self.record.add(Call(kind, started, time.time() - started, 0))
            return None
        self.record.add(Call(kind, started, time.time() - started, answer.status_code))
        if answer.status_code >= 400 and answer.status_code != 409:
            with self.record.lock:
                self.record.unexpected.setdefault(f"{kind} {answer.status_code}", answer.text[:300])
        return answer

    def edit(self, line_id: int, text: str) -> None:
        read = self.call("GET line", "GET", f"lines/{line_id}/")
        if read is None or read.status_code != 200:
            return
        version = read.json()["version"]
        for _ in range(MAX_RETRIES):
            answer = self.call("PATCH line", "PATCH", f"lines/{line_id}/", json={"text": text, "version": version})
            if answer is None:
                return  # not acknowledged: whether it was applied is not known, and not counted
            if answer.status_code == 200:
                body = answer.json()
                with self.record.lock:
                    self.record.edits.append((line_id, body["version"], body["text"]))
                return
            if answer.status_code != 409:
                return
            with self.record.lock:
                self.record.conflicts += 1
            current = answer.json().get("current")
            if current is None:
                again = self.call("GET line", "GET", f"lines/{line_id}/")
                if again is None or again.status_code != 200:
                    return
                current = again.json()
            version = current["version"]
        with self.record.lock:
            self.record.gave_up += 1


def run_client(client: Client, *, number: int, line_ids: list[int], pages: int, deadline: float) -> None:
    chance = random.Random(number)
    edits = 0
    while time.time() < deadline:
        roll = chance.random()
        if roll < 0.5:
            edits += 1
            client.edit(chance.choice(line_ids), f"client {number} edit {edits}")
        elif roll < 0.7:
            client.call("GET line queue", "GET", "queue/?level=line&page_size=20")
        elif roll < 0.8:
            client.call("GET page queue", "GET", "queue/?level=page&page_size=10")
        elif roll < 0.9:
            client.call("GET pages", "GET", f"pages/?page={chance.randint(1, max(1, pages // 10))}&page_size=10")
        else:
            client.call("GET line", "GET", f"lines/{chance.choice(line_ids)}/")


def page_image(seed: int) -> bytes:
    from ml.data.synthetic import render_page

    image, _ = render_page(TEXT, seed=seed)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def ask_for_job(client: Client, seed: int) -> int | None:
    answer = client.call("POST prediction job", "POST", "predictions/",
                         files=[("files", (f"job-{seed}.png", page_image(seed), "image/png"))])
    if answer is not None and answer.status_code == 202:
        job_id = answer.json()["id"]
        with client.record.lock:
            client.record.jobs.append(job_id)
        return job_id
    return None


@dataclass
class Fault:
    name: str
    at: float
    detail: str = ""
    recovered_at: float | None = None


def kill_gpu_worker_mid_job(stack: ServedStack, client: Client, faults: list[Fault]) -> None:
    """Ask for a job, wait until the gpu worker runs it, SIGKILL that worker; wait for its restart."""
    from webapp.predictions.models import JobStatus, PredictionJob

    job_id = ask_for_job(client, seed=999)
    try:
        wait_until(lambda: job_id and PredictionJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).exists(),
                   what="the prediction job to run", timeout=60, interval=0.1)
        while_running = "while it ran job %s" % job_id
    except TimeoutError:
        while_running = "(job %s had not started within 60 s)" % job_id
    pid = stack.celery_pid("worker-gpu")
    fault = Fault("SIGKILL worker-gpu", at=time.time(), detail=f"pid {pid} {while_running}")
    faults.append(fault)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
    try:
        wait_until(lambda: stack.celery_pid("worker-gpu") not in (None, pid), what="worker-gpu started again",
                   timeout=120)
        fault.recovered_at = time.time()
        fault.detail += f"; supervisor started pid {stack.celery_pid('worker-gpu')}"
    except TimeoutError:
        fault.detail += "; not started again within 120 s"


def kill_redis(stack: ServedStack, faults: list[Fault]) -> None:
    pid = stack.redis_pid()
    fault = Fault("SIGKILL redis-server", at=time.time(), detail=f"pid {pid}")
    faults.append(fault)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
    try:
        wait_until(lambda: stack.redis_pid() not in (None, pid), what="redis-server started again", timeout=120,
                   interval=0.05)
        fault.recovered_at = time.time()
        fault.detail += f"; supervisor started pid {stack.redis_pid()}"
    except TimeoutError:
        fault.detail += "; not started again within 120 s"


def fixtures(*, clients: int, pages: int):
    """A manager, `clients` reviewers with tokens, the project (base models promoted) and its pages, once the
    gpu worker has pre-annotated them with the base models (what fills the line and page queues)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from webapp.corpus.models import Line
    from webapp.corpus.services import pages_upload
    from webapp.predictions.models import Prediction
    from webapp.projects.services import membership_set, project_create

    users = get_user_model().objects
    lead = users.create_user(username="lead", email="lead@example.org")
    project = project_create(creator=lead, name="api soak", use_base_models=True)
    tokens = []
    for number in range(clients):
        reviewer = users.create_user(username=f"reviewer-{number}", email=f"reviewer-{number}@example.org")
        membership_set(project=project, user=reviewer, role="reviewer")
        tokens.append(Token.objects.create(user=reviewer).key)
    pages_upload(project=project, user=lead, files=[(f"page-{i}.png", page_image(i)) for i in range(pages)])
    started = time.time()
    # Edits must not race pre-annotation, which replaces a page's unverified lines (their ids with them).
    wait_until(lambda: Prediction.objects.filter(page__project=project).values("page").distinct().count() == pages,
               what="the pages pre-annotated by the base models", timeout=900, interval=1)
    line_ids = list(Line.objects.filter(project=project).values_list("pk", flat=True))
    print(f"bench: {pages} pages pre-annotated in {time.time() - started:.0f} s: {len(line_ids)} model lines",
          flush=True)
    return project, Token.objects.create(user=lead).key, tokens, line_ids


def left_behind(*, project, record: Record) -> dict:
    """What the run left: unfinished work, unsent messages, lost edits, files no row refers to."""
    from django.apps import apps
    from django.core.files.storage import default_storage
    from django.db.models import FileField

    from webapp.corpus.models import Line, LineRevision, Page, page_thumbnail_path
    from webapp.outbox.models import OutboxMessage
    from webapp.predictions.models import JobStatus, PredictionJob
    from webapp.training.models import ACTIVE_RUN_STATUSES, TrainingRun

    stuck_jobs = list(PredictionJob.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING))
                      .values_list("pk", "status"))
    failed_jobs = list(PredictionJob.objects.filter(status=JobStatus.FAILED).values_list("pk", "error"))
    stuck_runs = list(TrainingRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).values_list("pk", "status"))
    unsent = OutboxMessage.objects.filter(sent_at__isnull=True).count()

    missing = [edit for edit in record.edits
               if not LineRevision.objects.filter(line_ref=edit[0], version=edit[1], new_text=edit[2]).exists()]
    last = {}
    for line_id, version, text in record.edits:
        if line_id not in last or version > last[line_id][0]:
            last[line_id] = (version, text)
    now = dict(Line.objects.filter(pk__in=list(last)).values_list("pk", "text"))
    overwritten = [line_id for line_id, (_, text) in last.items() if now.get(line_id) != text]

    referenced = set()
    for model in apps.get_models():
        for model_field in model._meta.get_fields():
            if isinstance(model_field, FileField):
                referenced |= set(model.objects.exclude(**{model_field.name: ""})
                                  .values_list(model_field.name, flat=True))
    for page in Page.objects.all():
        referenced.add(page_thumbnail_path(page))
    for inputs in PredictionJob.objects.values_list("inputs", flat=True):
        referenced |= {item["storage_name"] for item in inputs or []}
    root = Path(default_storage.location)
    stored = {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}
    orphans = sorted(stored - referenced)
    return {"stuck_jobs": stuck_jobs, "failed_jobs": failed_jobs, "stuck_runs": stuck_runs, "unsent_outbox": unsent,
            "edits_missing": len(missing), "lines_not_at_last_edit": len(overwritten), "orphan_files": orphans,
            "files_stored": len(stored), "missing_examples": missing[:5]}


def settled() -> bool:
    from webapp.outbox.models import OutboxMessage
    from webapp.predictions.models import JobStatus, PredictionJob
    from webapp.training.models import ACTIVE_RUN_STATUSES, TrainingRun

    return not (PredictionJob.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).exists()
                or TrainingRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).exists()
                or OutboxMessage.objects.filter(sent_at__isnull=True).exists())


def seen_between(calls: list[Call], start: float, end: float) -> str:
    statuses = Counter(str(call.status or "no answer") for call in calls if start <= call.started + call.seconds
                       and call.started <= end)
    return ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())) or "no requests"


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--job-every", type=float, default=20, help="seconds between prediction jobs")
    parser.add_argument("--settle", type=float, default=300, help="seconds to wait for the work to finish after")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn sync workers (compose runs 3)")
    parser.add_argument("--no-faults", action="store_true", help="the same load, nothing killed")
    parser.add_argument("--keep", action="store_true", help="keep the stack's state directory (logs)")
    args = parser.parse_args()

    with served_stack(web_workers=args.web_workers, env=STACK_ENV, keep=args.keep) as stack:
        project, lead_token, tokens, line_ids = fixtures(clients=args.clients, pages=args.pages)
        record = Record()
        duration = args.minutes * 60
        began = time.time()
        deadline = began + duration
        print(f"bench: {args.clients} clients for {duration:.0f} s on {len(line_ids)} lines of {args.pages} pages",
              flush=True)
        workers = [threading.Thread(target=run_client, name=f"client-{number}", kwargs=dict(
            client=Client(url=stack.url, token=token, project_id=project.pk, record=record), number=number,
            line_ids=line_ids, pages=args.pages, deadline=deadline)) for number, token in enumerate(tokens)]
        for thread in workers:
            thread.start()

        lead = Client(url=stack.url, token=lead_token, project_id=project.pk, record=record)
        faults: list[Fault] = []
        plan = [] if args.no_faults else [
            (0.3, lambda: kill_gpu_worker_mid_job(stack, lead, faults)), (0.6, lambda: kill_redis(stack, faults))]
        next_job = began + 5
        while time.time() < deadline:
            if plan and time.time() >= began + plan[0][0] * duration:
                plan.pop(0)[1]()
            if time.time() >= next_job:
                ask_for_job(lead, seed=len(record.jobs))
                next_job = time.time() + args.job_every
            time.sleep(0.2)
        for thread in workers:
            thread.join()
        ended = time.time()

        try:
            wait_until(settled, what="the work to finish", timeout=args.settle, interval=1)
        except TimeoutError:
            pass
        settle_seconds = time.time() - ended
        behind = left_behind(project=project, record=record)

        calls = record.calls
        statuses = Counter(str(call.status or "no answer") for call in calls)
        server_errors = sum(1 for call in calls if call.status >= 500)
        per_kind = {}
        by_kind = defaultdict(list)
        for call in calls:
            by_kind[call.kind].append(call)
        for kind, items in sorted(by_kind.items()):
            seconds = [call.seconds for call in items]
            per_kind[kind] = {"count": len(items), "p50_ms": ms(percentile(seconds, 0.5)),
                              "p95_ms": ms(percentile(seconds, 0.95)),
                              "statuses": dict(Counter(str(call.status or "no answer") for call in items))}
        all_seconds = [call.seconds for call in calls]
        table = [{"fault": fault.name, "at_s": round(fault.at - began, 1), "detail": fault.detail,
                  "back_after_s": round(fault.recovered_at - fault.at, 1) if fault.recovered_at else None,
                  "clients_saw": seen_between(calls, fault.at, (fault.recovered_at or fault.at) + 5)}
                 for fault in faults]
        figures = {
            "clients": args.clients, "seconds": round(ended - began, 1), "web_workers": args.web_workers,
            "requests": len(calls), "requests_per_s": round(len(calls) / (ended - began), 1),
            "p50_ms": ms(percentile(all_seconds, 0.5)), "p95_ms": ms(percentile(all_seconds, 0.95)),
            "statuses": dict(statuses), "server_errors": server_errors,
            "edits_acknowledged": len(record.edits), "conflicts_retried": record.conflicts,
            "edits_given_up": record.gave_up, "prediction_jobs": len(record.jobs), "per_kind": per_kind,
            "unexpected_answers": record.unexpected, "faults": table, "settle_s": round(settle_seconds, 1),
            "left_behind": behind, "machine": machine(),
        }

        print(f"\n{args.clients} clients, {figures['seconds']} s, gunicorn with {args.web_workers} workers: "
              f"{len(calls)} requests = {figures['requests_per_s']}/s, p50 {figures['p50_ms']} ms, "
              f"p95 {figures['p95_ms']} ms")
        print(f"statuses {dict(statuses)}; 5xx: {server_errors}; edits acknowledged {len(record.edits)} "
              f"({record.conflicts} conflicts applied again, {record.gave_up} given up); "
              f"prediction jobs {len(record.jobs)}")
        for kind, body in record.unexpected.items():
            print(f"first {kind}: {body}")
        print(f"\n{'request':22} {'count':>6} {'p50 ms':>8} {'p95 ms':>8}  statuses")
        for kind, item in per_kind.items():
            print(f"{kind:22} {item['count']:>6} {item['p50_ms']:>8} {item['p95_ms']:>8}  {item['statuses']}")
        print("\n| fault | at (s) | back after (s) | what clients saw meanwhile (+5 s) | detail |")
        print("| --- | --- | --- | --- | --- |")
        for row in table:
            print(f"| {row['fault']} | {row['at_s']} | {row['back_after_s']} | {row['clients_saw']} | "
                  f"{row['detail']} |")
        print(f"\nleft behind (after {figures['settle_s']} s to settle): jobs queued or running "
              f"{behind['stuck_jobs']}, "
              f"failed jobs {behind['failed_jobs']}, active training runs {behind['stuck_runs']}, unsent outbox "
              f"messages {behind['unsent_outbox']}, acknowledged edits missing {behind['edits_missing']}, lines not "
              f"at their last acknowledged edit {behind['lines_not_at_last_edit']}, orphan files "
              f"{len(behind['orphan_files'])} of {behind['files_stored']} {behind['orphan_files'][:5]}")
        print(f"machine: {figures['machine']}")
        print(json.dumps({"bench": "api_soak", **figures}), flush=True)


if __name__ == "__main__":
    main()
