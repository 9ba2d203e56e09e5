"""Webhook ingestion under load: Label Studio's annotation events over HTTP, until their lines are in PostgreSQL.

    .venv/bin/python bench/webhook_load.py                                  # 40 pages x 25 events x 2 deliveries
    .venv/bin/python bench/webhook_load.py --pages 4 --updates 3 --concurrency 4   # a smoke run, about a minute
    .venv/bin/python bench/webhook_load.py --rate 200                       # offered at 200 deliveries/s
    .venv/bin/python bench/webhook_load.py --profile runs/webhook-profile   # and py-spy on the web workers

It starts its own stack (bench/served_stack.py): the dev stack's embedded PostgreSQL and Redis,
the Celery workers and beat, a real Label Studio (inkloop asks it who its own account is, once per
web process, to tell its own write-backs from an annotator's edits), and gunicorn with
`--web-workers` sync workers as compose runs it, on loopback. A project of `--pages` pages, each
the image of a Label Studio task, and an annotator whose Label Studio account inkloop knows.

Each page gets one ANNOTATION_CREATED of `--regions` regions (a box and a transcription each),
then `--updates` ANNOTATION_UPDATED, each retyping one more region: the payloads Label Studio
1.23 sends, with the secret header. Every delivery is sent `--copies` times (Label Studio
repeats one when an answer is slow); a copy follows its original `--pages // 2` deliveries later.
Pages are interleaved, so with `--concurrency` requests in flight a page's events can arrive out
of order, as they can from Label Studio: an older one must change nothing.

The load generator is a bounded thread pool: `--concurrency` senders, each one request at a time,
a fixed number of deliveries, and with `--rate` an arrival schedule (delivery time is the time a
delivery was due, so a server that falls behind shows in the latency). It waits until every
distinct event is applied, then reads PostgreSQL:

- acknowledged: deliveries answered 200, per second, and delivery -> answer p50/p95;
- applied: distinct events whose WebhookEvent row is processed (that row, the lines and their
  revisions commit together), per second, and delivery -> processed p50/p95; the window ends at
  the last one processed;
- lost: a distinct event with no processed row, or a page whose lines are not what its newest
  annotation says; doubled: a delivery counted more often than it was answered, or two lines of
  one region;
- the CPU each delivery cost per process tree (gunicorn, PostgreSQL with the backends it reaped,
  Redis, Celery, this load generator), read from /proc, and what that CPU cost allows with every
  core of the machine to the server side: on a shared machine the rate measured is lower.

Prints the figures and a JSON line. The stack and its state are thrown away after (`--keep`
keeps the state directory, with the logs).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import io  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

import requests  # noqa: E402

from bench.served_stack import cpu_seconds, machine, percentile, served_stack, wait_until  # noqa: E402

WIDTH, HEIGHT = 1000, 1400
LS_PROJECT_ID = 4242
ANNOTATOR_LS_ID = 90_001        # not Label Studio's admin (inkloop's service account): an annotator's edits
FIRST_TASK_ID = 7_000_000


def page_png(seed: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (WIDTH, HEIGHT), color=150 + seed % 100).save(buffer, format="PNG")
    return buffer.getvalue()


def region_text(index: int, *, version: int, regions: int) -> str:
    """What the annotator typed in region `index` by `version`: update v retypes region v % regions."""
    last = max((v for v in range(1, version + 1) if v % regions == index), default=0)
    return f"ligne {index} v{last}"


def result(*, regions: int, version: int) -> list[dict]:
    """An annotation's result as Label Studio stores it: a rectangle and a textarea per region, in percent."""
    from labeling.config import BOX, IMAGE, LABEL, TRANSCRIPTION

    items = []
    for index in range(regions):
        geometry = {"x": 5, "y": 2 + index * 7, "width": 80, "height": 5, "rotation": 0}
        common = {"id": f"r{index}", "to_name": IMAGE, "original_width": WIDTH, "original_height": HEIGHT,
                  "image_rotation": 0, "origin": "manual"}
        items.append({**common, "from_name": BOX, "type": "rectanglelabels",
                      "value": {**geometry, "rectanglelabels": [LABEL]}})
        items.append({**common, "from_name": TRANSCRIPTION, "type": "textarea",
                      "value": {**geometry, "text": [region_text(index, version=version, regions=regions)]}})
    return items


def payload(*, task_id: int, version: int, regions: int, created: datetime) -> dict:
    at = (created + timedelta(seconds=version)).isoformat().replace("+00:00", "Z")
    annotation = {"id": task_id, "task": task_id, "project": LS_PROJECT_ID, "completed_by": ANNOTATOR_LS_ID,
                  "updated_by": ANNOTATOR_LS_ID, "was_cancelled": False, "ground_truth": False,
                  "created_at": created.isoformat().replace("+00:00", "Z"), "updated_at": at, "lead_time": 12.5,
                  "result": result(regions=regions, version=version)}
    return {"action": "ANNOTATION_CREATED" if version == 0 else "ANNOTATION_UPDATED",
            "project": {"id": LS_PROJECT_ID, "title": "webhook load"},
            "task": {"id": task_id, "project": LS_PROJECT_ID, "data": {"image": f"/data/{task_id}.png"}},
            "annotation": annotation}


@dataclass
class Delivery:
    key: str            # the event's idempotency key, as inkloop computes it
    body: bytes
    copy: int           # 0: the original, 1...: a repeat
    due: float = 0.0    # when it was due (time.time())
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0     # 0: no answer (a connection error)


def deliveries_for(*, tasks: list[int], updates: int, regions: int, copies: int) -> list[Delivery]:
    from labeling.services.webhooks import event_key

    created = datetime.now(timezone.utc).replace(microsecond=0)
    events = []
    for version in range(updates + 1):
        for task_id in tasks:
            body = payload(task_id=task_id, version=version, regions=regions, created=created)
            events.append((event_key(body), json.dumps(body).encode()))
    lag = max(1, len(tasks) // 2)
    order: list[Delivery] = []
    for position in range(len(events) + lag * (copies - 1)):
        if position < len(events):
            order.append(Delivery(*events[position], copy=0))
        for copy in range(1, copies):
            earlier = position - lag * copy
            if 0 <= earlier < len(events):
                order.append(Delivery(*events[earlier], copy=copy))
    return order


def send_all(order: list[Delivery], *, url: str, secret: str, concurrency: int, rate: float) -> float:
    """Send every delivery with `concurrency` senders (at `rate` per second when given); returns the start."""
    from labeling.services.provisioning import SECRET_HEADER

    headers = {SECRET_HEADER: secret, "Content-Type": "application/json"}
    next_index = itertools.count()
    start = time.time() + 0.2

    def sender() -> None:
        session = requests.Session()
        while True:
            index = next(next_index)
            if index >= len(order):
                return
            delivery = order[index]
            delivery.due = start + index / rate if rate else time.time()
            if rate:
                time.sleep(max(0.0, delivery.due - time.time()))
            delivery.sent = time.time()
            try:
                answer = session.post(f"{url}/labeling/webhook/", data=delivery.body, headers=headers, timeout=120)
                delivery.status = answer.status_code
            except requests.RequestException:
                delivery.status = 0
            delivery.answered = time.time()

    threads = [threading.Thread(target=sender, name=f"sender-{n}") for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return start


def profiler(pid: int, out: Path) -> subprocess.Popen | None:
    """py-spy on gunicorn and its workers while the load runs, if py-spy is installed."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        print("bench: --profile needs py-spy on PATH (pip install py-spy); not profiling", flush=True)
        return None
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([py_spy, "record", "--pid", str(pid), "--subprocesses", "--rate", "50", "--format",
                             "speedscope", "--output", str(out / "webhook-web.speedscope.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--updates", type=int, default=24, help="ANNOTATION_UPDATED events per page")
    parser.add_argument("--regions", type=int, default=12, help="regions (lines) per annotation")
    parser.add_argument("--copies", type=int, default=2, help="times each event is delivered")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--rate", type=float, default=0, help="deliveries per second offered (0: as fast as the "
                                                               "senders go)")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn sync workers (compose runs 3)")
    parser.add_argument("--profile", type=Path, default=None, help="write a py-spy profile of the web here")
    parser.add_argument("--keep", action="store_true", help="keep the stack's state directory (logs)")
    args = parser.parse_args()

    with served_stack(web_workers=args.web_workers, label_studio=True, keep=args.keep) as stack:
        from django.conf import settings
        from django.contrib.auth import get_user_model

        from labeling.models import LabelStudioAccount, LabelStudioTask, WebhookEvent
        from webapp.corpus.models import Line, LineRevision
        from webapp.corpus.services import pages_upload
        from webapp.projects.services import project_create

        annotator = get_user_model().objects.create_user(username="annotator", email="annotator@example.org")
        LabelStudioAccount.objects.create(user=annotator, ls_user_id=ANNOTATOR_LS_ID)
        project = project_create(creator=annotator, name="webhook load", use_base_models=False)
        stored = pages_upload(project=project, user=annotator,
                              files=[(f"p{i}.png", page_png(i)) for i in range(args.pages)])
        tasks = {}
        for index, item in enumerate(stored):
            task = LabelStudioTask.objects.create(page=item.page, ls_project_id=LS_PROJECT_ID,
                                                  ls_task_id=FIRST_TASK_ID + index)
            tasks[task.ls_task_id] = item.page.pk
        order = deliveries_for(tasks=list(tasks), updates=args.updates, regions=args.regions, copies=args.copies)
        keys = sorted({delivery.key for delivery in order})
        print(f"bench: {len(order)} deliveries of {len(keys)} events ({args.pages} pages x {args.updates + 1} "
              f"events x {args.copies}), {args.concurrency} in flight"
              + (f", offered at {args.rate:g}/s" if args.rate else ""), flush=True)

        spy = profiler(stack.gunicorn.pid, args.profile) if args.profile else None
        roots = stack.cpu_roots()
        cpu_before = cpu_seconds(roots)
        start = send_all(order, url=stack.url, secret=settings.LABEL_STUDIO_WEBHOOK_SECRET,
                         concurrency=args.concurrency, rate=args.rate)
        acknowledged = [delivery for delivery in order if delivery.status == 200]
        answered_by = max(delivery.answered for delivery in order)

        def applied() -> list:
            rows = list(WebhookEvent.objects.filter(key__in=keys, processed_at__isnull=False)
                        .values_list("key", "processed_at", "deliveries", "outcome"))
            return rows if len(rows) == len(keys) else []

        originals_ok = {delivery.key for delivery in acknowledged}
        try:
            wait_until(applied, what="every event applied", timeout=120, interval=0.5)
        except TimeoutError:
            pass  # counted as lost below
        cpu = {name: used - cpu_before[name] for name, used in cpu_seconds(roots).items()}
        if spy is not None:
            spy.send_signal(2)
            spy.wait(timeout=120)
        rows = list(WebhookEvent.objects.filter(key__in=keys).values_list("key", "processed_at", "deliveries",
                                                                         "outcome"))

        first_delivery = {}
        for delivery in order:
            if delivery.key not in first_delivery or delivery.due < first_delivery[delivery.key]:
                first_delivery[delivery.key] = delivery.due
        processed = {key: at.timestamp() for key, at, _, _ in rows if at is not None}
        apply_latency = [processed[key] - first_delivery[key] for key in processed]
        ack_latency = [delivery.answered - delivery.due for delivery in acknowledged]
        applied_by = max(processed.values(), default=start)
        statuses = Counter(str(delivery.status or "no answer") for delivery in order)

        # What PostgreSQL holds: each page's lines are its newest annotation, one line per region.
        expected = {f"r{index}": region_text(index, version=args.updates, regions=args.regions)
                    for index in range(args.regions)}
        by_page: dict[int, list[tuple[str, str]]] = {page_id: [] for page_id in tasks.values()}
        for page_id, region, text in Line.objects.filter(page__project=project).values_list(
                "page_id", "ls_region_id", "text"):
            by_page[page_id].append((region, text))
        wrong_pages = sum(1 for lines in by_page.values() if dict(lines) != expected or len(lines) != len(expected))
        doubled_lines = sum(len(lines) - len(dict(lines)) for lines in by_page.values())
        counted = sum(count for _, _, count, _ in rows)
        lost_events = len(keys) - len(processed)
        not_acknowledged = len(keys) - len(originals_ok)
        outcomes = Counter("older, ignored" if "older" in outcome else "already applied" if "already" in outcome
                           else "applied" for _, _, _, outcome in rows)
        revisions = LineRevision.objects.filter(page__project=project).count()

        ack_window = answered_by - start
        applied_window = max(applied_by, start) - start
        figures = {
            "deliveries": len(order), "distinct_events": len(keys), "pages": args.pages, "regions": args.regions,
            "concurrency": args.concurrency, "offered_rate": args.rate or None, "web_workers": args.web_workers,
            "acknowledged": len(acknowledged), "statuses": dict(statuses),
            "acknowledged_per_s": round(len(acknowledged) / ack_window, 1),
            "applied_events_per_s": round(len(processed) / applied_window, 1) if applied_window > 0 else None,
            "applied_deliveries_per_s": round(len(acknowledged) / max(applied_window, ack_window), 1),
            "ack_ms": {"p50": ms(percentile(ack_latency, 0.5)), "p95": ms(percentile(ack_latency, 0.95))},
            "applied_ms": {"p50": ms(percentile(apply_latency, 0.5)), "p95": ms(percentile(apply_latency, 0.95))},
            "lost_events": lost_events, "events_never_acknowledged": not_acknowledged,
            "wrong_pages": wrong_pages, "doubled_lines": doubled_lines,
            "deliveries_counted": counted, "doubled_deliveries": max(0, counted - len(acknowledged)),
            "outcomes": dict(outcomes), "line_revisions": revisions, "machine": machine(),
            "cpu_ms_per_delivery": {name: round(used * 1000 / len(order), 2) for name, used in cpu.items()},
        }
        server_cpu = sum(used for name, used in cpu.items() if name != "load generator")
        # What the server side would apply with every core to itself, at the CPU each delivery cost here.
        figures["cpu_bound_deliveries_per_s"] = round((os.cpu_count() or 1) * len(order) / server_cpu, 1) \
            if server_cpu else None
        print(f"{len(order)} deliveries ({len(keys)} distinct events; {args.pages} pages x {args.regions} regions) "
              f"through gunicorn ({args.web_workers} workers), {args.concurrency} in flight")
        print(f"acknowledged: {len(acknowledged)} in {ack_window:.2f} s = {figures['acknowledged_per_s']} "
              f"deliveries/s; delivery -> 200 p50 {figures['ack_ms']['p50']} ms, p95 {figures['ack_ms']['p95']} ms")
        print(f"applied:      {len(processed)} distinct events in {applied_window:.2f} s = "
              f"{figures['applied_events_per_s']} events/s ({figures['applied_deliveries_per_s']} deliveries/s "
              f"with the copies); delivery -> in PostgreSQL p50 {figures['applied_ms']['p50']} ms, "
              f"p95 {figures['applied_ms']['p95']} ms")
        print(f"statuses {dict(statuses)}; outcomes {dict(outcomes)}; lost events {lost_events}, pages not as their "
              f"newest annotation {wrong_pages}, doubled lines {doubled_lines}, doubled deliveries "
              f"{figures['doubled_deliveries']}")
        print("CPU per delivery (ms): " + ", ".join(f"{name} {value}" for name, value in
                                                   figures["cpu_ms_per_delivery"].items())
              + f"; with all {os.cpu_count()} cores the server side would take at most "
                f"{figures['cpu_bound_deliveries_per_s']} deliveries/s")
        print(f"machine: {figures['machine']}")
        if args.profile and spy is not None:
            print(f"profile: {args.profile / 'webhook-web.speedscope.json'} (open in speedscope)")
        print(json.dumps({"bench": "webhook_load", **figures}), flush=True)


if __name__ == "__main__":
    main()
