"""What the outbox costs a write: enqueue_on_commit with the broker up, and with the broker down.

    python -m webapp.devstack exec -- python bench/outbox_bench.py [--messages 200]

Each message is one transaction that enqueues one task (a name no worker runs, on a queue of its
own, so nothing executes it): the outbox row, the commit, and the send after commit. With the
broker down (REDIS_URL pointed at a socket nobody listens on) the send fails and the row waits.
Then one sweep sends what waited, once the broker is back. Prints the figures and a JSON line,
and deletes its rows and its queue after.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from webapp import queueing, task_names  # noqa: E402
from webapp.outbox.models import OutboxMessage  # noqa: E402
from webapp.outbox.services import outbox_sweep  # noqa: E402

QUEUE = "bench-outbox"


def enqueue_many(count: int) -> list[float]:
    times = []
    for number in range(count):
        started = time.perf_counter()
        with transaction.atomic():
            # A registered name (every name sent anywhere must be one), to a queue no worker reads: the bench
            # measures sending, not running.
            queueing.enqueue_on_commit(task_names.OUTBOX_SWEEP, number, queue=QUEUE)
        times.append((time.perf_counter() - started) * 1000)
    return times


def with_broker(url: str) -> None:
    os.environ["REDIS_URL"] = url
    queueing.sender.cache_clear()


def figures(name: str, times: list[float]) -> dict:
    ordered = sorted(times)
    result = {"median_ms": round(statistics.median(ordered), 2), "p95_ms": round(ordered[int(len(ordered) * 0.95)], 2)}
    print(f"{name}: median {result['median_ms']} ms, p95 {result['p95_ms']} ms per write")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    broker = os.environ["REDIS_URL"]
    OutboxMessage.objects.filter(queue=QUEUE).delete()
    try:
        up = enqueue_many(args.messages)
        assert not OutboxMessage.objects.filter(queue=QUEUE, sent_at__isnull=True).exists()
        with tempfile.TemporaryDirectory() as nowhere:
            with_broker(f"unix://{nowhere}/nobody.sock?db=0")
            down = enqueue_many(args.messages)
        waiting = OutboxMessage.objects.filter(queue=QUEUE, sent_at__isnull=True).count()
        with_broker(broker)
        started = time.perf_counter()
        with override_settings(INKLOOP_OUTBOX_SWEEP_AFTER_SECONDS=0):
            swept = outbox_sweep(limit=args.messages)
        sweep_seconds = time.perf_counter() - started
        print(f"{args.messages} writes each enqueueing one task")
        result = {"messages": args.messages, "broker_up": figures("broker up", up),
                  "broker_down": figures("broker down", down), "waiting_after_outage": waiting,
                  "swept": swept, "sweep_ms_per_message": round(sweep_seconds * 1000 / max(swept, 1), 2)}
        print(f"broker back: one sweep sent {swept} of {waiting} waiting messages, "
              f"{result['sweep_ms_per_message']} ms each")
        print(json.dumps({"bench": "outbox", **result}))
    finally:
        with_broker(broker)
        OutboxMessage.objects.filter(queue=QUEUE).delete()
        redis.Redis.from_url(broker).delete(QUEUE)


if __name__ == "__main__":
    main()
