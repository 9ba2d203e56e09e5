"""The REST predict endpoint under load, beside the raw in-process Predictor on the same pages.

    python -m webapp.devstack exec -- python bench/serving.py --recognizer R.pt [--detector D.pt]

Starts a real gunicorn serving inkloop, promotes the given checkpoints in a throw-away
project, and sends page images from 1, 4 and 16 concurrent clients. Prints p50/p95
latency per page and pages/s for each, the raw Predictor's pages/s, and the ratio
(target: served >= 0.8 x raw). Without checkpoints it trains tiny ones first (the
figures then say little about real models).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(REPO)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from PIL import Image  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from ml.data.layout import pair_layouts_with_images  # noqa: E402
from ml.detection import ScriptedBaseline  # noqa: E402
from ml.predict import Predictor  # noqa: E402
from webapp.devstack import free_port  # noqa: E402
from webapp.projects.services import project_create  # noqa: E402
from webapp.training.registry import model_version_upload  # noqa: E402
from ml.data.shared import NEW_PROJECT  # noqa: E402

CREMMA = NEW_PROJECT


def start_server(port: int, workers: int, threads: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "webapp.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads), "--timeout", "300", "--log-level", "warning"],
        cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS=str(max(1, os.cpu_count() // workers))))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/health/", timeout=10).ok:
                return server
        except requests.RequestException:  # not listening yet, or still importing torch
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("gunicorn did not come up")


def load_pages(count: int) -> list[bytes]:
    pages = []
    for _, image_path in pair_layouts_with_images(CREMMA)[:count]:
        pages.append(image_path.read_bytes())
    return pages


def raw_throughput(predictor: Predictor, pages: list[bytes]) -> float:
    images = [Image.open(io.BytesIO(data)).convert("L") for data in pages]
    predictor.predict(images[0])  # warm-up
    started = time.perf_counter()
    for image in images:
        predictor.predict(image)
    return len(images) / (time.perf_counter() - started)


def load(url: str, token: str, pages: list[bytes], clients: int, requests_total: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(requests_total))

    def client() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        for index in counter:
            data = pages[index % len(pages)]
            started = time.perf_counter()
            response = session.post(url, files={"image": (f"p{index}.jpg", data)}, timeout=600)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, len(latencies) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recognizer", type=Path)
    parser.add_argument("--detector", type=Path, help="default: the scripted baseline")
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    args = parser.parse_args()

    if args.recognizer is None:
        from ml.tiny import build_tiny_checkpoints

        print("no --recognizer given: training a tiny one (figures say little about real models)")
        args.recognizer = build_tiny_checkpoints(tempfile.mkdtemp())["recognizer"]
    user = get_user_model().objects.create_user(username=f"bench-serving-{time.time_ns()}")
    token = Token.objects.create(user=user).key
    project = project_create(creator=user, name="serving bench", use_base_models=False)
    model_version_upload(project=project, user=user, data=args.recognizer.read_bytes(), promote=True)
    if args.detector:
        model_version_upload(project=project, user=user, data=args.detector.read_bytes(), promote=True)
    pages = load_pages(args.pages)

    predictor = Predictor.from_checkpoints(args.detector, args.recognizer)
    if args.detector is None:
        predictor.detector = ScriptedBaseline()
    raw = raw_throughput(predictor, pages)
    del predictor

    port = free_port()
    server = start_server(port, args.workers, args.threads)
    url = f"http://127.0.0.1:{port}/api/projects/{project.pk}/predict/"
    try:
        load(url, token, pages, clients=args.workers, requests_total=args.workers * 2)  # load models in each worker
        print(f"machine: {os.cpu_count()} CPU cores; gunicorn {args.workers} workers x {args.threads} threads; "
              f"{len(pages)} CREMMA pages; detector: {args.detector or 'scripted baseline'}")
        print(f"raw in-process Predictor: {raw:.2f} pages/s")
        print(f"{'clients':>7} {'p50 s':>7} {'p95 s':>7} {'pages/s':>8} {'served/raw':>10}")
        for clients in (int(value) for value in args.clients.split(",")):
            latencies, rate = load(url, token, pages, clients=clients, requests_total=max(args.requests, clients))
            latencies.sort()
            p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
            print(f"{clients:>7} {statistics.median(latencies):>7.2f} {p95:>7.2f} {rate:>8.2f} {rate / raw:>10.2f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        project.delete()
        user.delete()


if __name__ == "__main__":
    main()
