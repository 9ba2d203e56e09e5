"""Time the ALTO import of a folder through the REST API (multipart upload, checks, database writes).

    python -m webapp.devstack exec -- python bench/import_cremma.py [--data DIR]

Creates a throw-away user and project in the configured database, imports every
XML + image pair of the folder in one request, searches a word, exports ALTO and PAGE,
prints the figures, and deletes what it created.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.test import override_settings  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from ml.data.layout import pair_layouts_with_images  # noqa: E402
from ml.data.shared import NEW_PROJECT  # noqa: E402

DEFAULT_DATA = NEW_PROJECT


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    pairs = pair_layouts_with_images(args.data)
    files = [(path.name, path.read_bytes()) for pair in pairs for path in pair]
    user = get_user_model().objects.create_user(username=f"bench-{time.time_ns()}")
    client = APIClient()
    client.force_authenticate(user)
    with tempfile.TemporaryDirectory() as media, override_settings(MEDIA_ROOT=media, ALLOWED_HOSTS=["*"]):
        project_id = client.post("/api/projects/", {"name": "import bench"}, format="json").json()["id"]
        started = time.perf_counter()
        response = client.post(f"/api/projects/{project_id}/import/",
                               {"files": [SimpleUploadedFile(name, data) for name, data in files]},
                               format="multipart")
        import_seconds = time.perf_counter() - started
        body = response.json()
        started = time.perf_counter()
        hits = client.get(f"/api/projects/{project_id}/search/?q=testament").json()["count"]
        search_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        alto = client.get(f"/api/projects/{project_id}/export/?format=alto").getvalue()
        export_seconds = time.perf_counter() - started
        print(f"import: HTTP {response.status_code}, {body.get('pages_created')} pages, "
              f"{body.get('lines_created')} lines, {sum(len(d) for _, d in files) / 1e6:.1f} MB "
              f"in {import_seconds:.1f} s")
        print(f"search 'testament': {hits} lines in {search_ms:.0f} ms")
        print(f"export ALTO zip: {len(alto) / 1e6:.1f} MB in {export_seconds:.1f} s")
        client.delete(f"/api/projects/{project_id}/")
    user.delete()


if __name__ == "__main__":
    main()
