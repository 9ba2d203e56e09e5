"""Load times of the dashboard and the page grid at 50 and at 5,000 pages, and the time to a thumbnail.

    python -m webapp.devstack exec -- .venv/bin/python bench/ui_pages.py [--repeat 20] [--sizes 50 5000]

For each size, makes a throw-away project of that many pages with 20 lines each (100,000 lines at
5,000 pages; rows bulk-created, without image files, which neither page reads) and requests, through
Django's test client in this process (server time, no network), the dashboard, the first grid page
and a later one (the middle page) --repeat times: p50 and p95 in ms, and the SQL queries of each.
Then one real page image (a CREMMA will) is uploaded through the service, and its thumbnail asked
for cold (made from the image and stored), warm (read back from storage) and revalidated (304 by
ETag). Everything is deleted at the end; the last line printed is a JSON object with every figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from webapp.corpus.models import Line, LineSource, Page, PageStatus, Split, page_thumbnail_path  # noqa: E402
from webapp.corpus.services import pages_upload  # noqa: E402
from webapp.projects.services import project_create  # noqa: E402
from webapp.review.views_pages import GRID_PAGE_SIZE  # noqa: E402
from ml.data.shared import NEW_PROJECT  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CREMMA = NEW_PROJECT
LINES_PER_PAGE = 20


def fill(project, pages: int) -> None:
    statuses = [PageStatus.NEW, PageStatus.PREDICTED, PageStatus.IN_PROGRESS, PageStatus.DONE]
    for start in range(0, pages, 1000):
        rows = Page.objects.bulk_create([
            Page(project=project, image=f"projects/{project.pk}/pages/bench/{n}.jpg", original_name=f"will-{n:05d}.jpg",
                 extension=".jpg", sha256=hashlib.sha256(f"bench-{project.pk}-{n}".encode()).hexdigest(),
                 width=2000, height=3000, group=f"will-{n // 4}", split=[Split.TRAIN, Split.VAL, Split.TEST][n % 3],
                 status=statuses[n % 4], confidence=(n % 97) / 97)
            for n in range(start, min(pages, start + 1000))])
        Line.objects.bulk_create([
            Line(page=page, project=project, x0=10, y0=10 + 100 * k, x1=1900, y1=90 + 100 * k, order=k,
                 text=f"je lègue à mon frère la maison {page.pk} ligne {k}", source=LineSource.MODEL,
                 confidence=0.5 + k / 100) for page in rows for k in range(LINES_PER_PAGE)], batch_size=5000)


def timed(client: Client, url: str, repeat: int, **headers) -> dict:
    times, queries, status = [], 0, None
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
        queries, status = len(captured), response.status_code
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
            "queries": queries, "status": status}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 5000])
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    media = tempfile.mkdtemp(prefix="ui-pages-bench-")
    user = get_user_model().objects.create_user(username=f"bench-ui-{os.getpid()}", password="x" * 16)
    figures: dict = {"repeat": args.repeat, "lines_per_page": LINES_PER_PAGE}
    try:
        with override_settings(MEDIA_ROOT=media, ALLOWED_HOSTS=["*"]):
            client = Client()
            client.force_login(user)
            for size in args.sizes:
                project = project_create(creator=user, name=f"bench-ui-{size}-{os.getpid()}", use_base_models=False)
                started = time.perf_counter()
                fill(project, size)
                later = size // GRID_PAGE_SIZE // 2 + 1
                row = {"fill_s": round(time.perf_counter() - started, 1), "later_page": later}
                for name, url in (("dashboard", f"/projects/{project.pk}/"),
                                  ("grid_first", f"/projects/{project.pk}/pages/"),
                                  ("grid_later", f"/projects/{project.pk}/pages/?page={later}"),
                                  ("grid_later_sorted", f"/projects/{project.pk}/pages/?sort=edited&page={later}")):
                    client.get(url)  # templates compiled, connection warm
                    row[name] = timed(client, url, args.repeat)
                    got = row[name]
                    print(f"{size:>5} pages  {name:<18} p50 {got['p50_ms']:>7} ms  p95 {got['p95_ms']:>7} ms"
                          f"  {got['queries']} queries  HTTP {got['status']}")
                figures[f"pages_{size}"] = row
                project.delete()

            project = project_create(creator=user, name=f"bench-ui-thumb-{os.getpid()}", use_base_models=False)
            image = sorted(CREMMA.glob("*.jpg"))[0]
            page = pages_upload(project=project, user=user, files=[(image.name, image.read_bytes())])[0].page
            url = f"/projects/{project.pk}/pages/{page.pk}/thumbnail.jpg"
            cold = []
            for _ in range(5):
                default_storage.delete(page_thumbnail_path(page))
                cold.append(timed(client, url, 1)["p50_ms"])
            warm = timed(client, url, args.repeat)
            etag = client.get(url)["ETag"]
            revalidated = timed(client, url, args.repeat, **{"If-None-Match": etag})
            size_bytes = len(client.get(url).content)
            figures["thumbnail"] = {"image": image.name, "image_bytes": image.stat().st_size,
                                    "thumbnail_bytes": size_bytes, "cold_p50_ms": round(statistics.median(cold), 1),
                                    "cold_max_ms": max(cold), "warm": warm, "revalidated_304": revalidated}
            print(f"thumbnail of {image.name} ({image.stat().st_size} bytes -> {size_bytes} bytes): "
                  f"cold p50 {figures['thumbnail']['cold_p50_ms']} ms, warm p50 {warm['p50_ms']} ms, "
                  f"304 p50 {revalidated['p50_ms']} ms (HTTP {revalidated['status']})")
            project.delete()
    finally:
        user.delete()
        shutil.rmtree(media, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
