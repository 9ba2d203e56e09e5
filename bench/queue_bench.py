"""The line review queue over many model lines: how long the top 100 least certain take to come back.

    python -m webapp.devstack exec -- python bench/queue_bench.py [--lines 1000000]

Fills a throw-away project with `--lines` unverified model lines (and a share of
verified ones, which the queue must skip), then times the exact queryset the
/queue endpoint runs, and prints the plan PostgreSQL chose. Deletes the project after.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from webapp.predictions.selectors import line_queue  # noqa: E402
from webapp.projects.services import project_create  # noqa: E402

LINES_PER_PAGE = 25


def fill(project, lines: int) -> None:
    """Pages and lines straight in SQL (generate_series): a million ORM saves would take an hour."""
    pages = lines // LINES_PER_PAGE
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO corpus_page (project_id, image, original_name, extension, sha256, width, height, "group",
                                     split, status, confidence, created_at)
            SELECT %s, 'bench/' || g, 'bench-' || g || '.png', '.png', md5(%s || '-' || g) || md5(g::text),
                   2000, 3000, 'bench-' || (g / 4), 'train', 'predicted', random(), now()
            FROM generate_series(1, %s) AS g""", [project.pk, str(project.pk), pages])
        cursor.execute("""
            INSERT INTO corpus_line (page_id, project_id, x0, y0, x1, y1, "order", text, source, confidence,
                                     model_version, version, created_at, updated_at, verified_at)
            SELECT p.id, p.project_id, 10, 10 + 40 * s, 1900, 40 + 40 * s, s, 'bench line ' || s, 'model',
                   random(), 'bench', 1, now(), now(),
                   CASE WHEN random() < 0.1 THEN now() END   -- a tenth already verified: the queue skips them
            FROM corpus_page p CROSS JOIN generate_series(0, %s - 1) AS s
            WHERE p.project_id = %s""", [LINES_PER_PAGE, project.pk])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE corpus_line")
        cursor.execute("ANALYZE corpus_page")


def time_queue(project, repeats: int) -> list[float]:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        top = list(line_queue(project=project).values_list("id", "confidence")[:100])
        timings.append((time.perf_counter() - started) * 1000)
        assert len(top) == 100 and top == sorted(top, key=lambda row: (row[1], row[0]))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    user = get_user_model().objects.create_user(username=f"bench-queue-{time.time_ns()}")
    project = project_create(creator=user, name="queue bench", use_base_models=False)
    try:
        started = time.perf_counter()
        fill(project, args.lines)
        print(f"filled {args.lines:,} lines in {time.perf_counter() - started:.0f} s")
        timings = time_queue(project, args.repeats)
        print(f"top-100 least certain over {args.lines:,} lines: p50 {statistics.median(timings):.1f} ms, "
              f"p95 {sorted(timings)[int(0.95 * len(timings)) - 1]:.1f} ms, max {max(timings):.1f} ms "
              f"({args.repeats} runs, target <= 50 ms)")
        sql, params = line_queue(project=project).values_list("id", "confidence")[:100].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            print("plan:\n  " + "\n  ".join(row[0] for row in cursor.fetchall()))
    finally:
        started = time.perf_counter()
        with connection.cursor() as cursor:  # a plain DELETE of a million rows through the ORM is slow
            cursor.execute("DELETE FROM corpus_line WHERE project_id = %s", [project.pk])
            cursor.execute("DELETE FROM corpus_page WHERE project_id = %s", [project.pk])
        project.delete()
        user.delete()
        print(f"cleaned up in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
