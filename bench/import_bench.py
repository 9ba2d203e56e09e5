"""ALTO/PAGE imports of real-sized collections: counts, time, and the web process's peak memory.

    python -m webapp.devstack exec -- python bench/import_bench.py [--data DIR] [--zip-mb 50 100]

(a) Imports the CREMMA folder (ALTO + images) through the service the API and
    `manage.py import_layout` use, then a PAGE 2013 folder this script writes from it with
    line coordinates outside the image by a few pixels and by hundreds (and some wholly
    outside): pages and lines imported, clipped and skipped, and the time.
(b) For each --zip-mb size, builds a zip of that size from the CREMMA pages (every copy's
    pixels made unique with a mark, so none is a duplicate), starts gunicorn (one sync
    worker) on a free port and POSTs the zip to /api/projects/{id}/import/ as a streamed
    multipart upload, like a browser or curl would. Prints the time and the worker's peak
    RSS (VmHWM) after a warm-up import and after the big one: it should stay well under
    500 MB and not grow with the zip's size.

Creates a throw-away user and projects in the configured database (migrating it first),
writes page images under a temporary MEDIA_ROOT, and deletes all of it at the end. The last
line printed is a JSON object with every figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, only bench/ is on sys.path; the imports below need the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import http.client  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import override_settings  # noqa: E402
from PIL import Image  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from ml.data.layout import (LineAnnotation, PageAnnotation, pair_layouts_with_images, read_layout,  # noqa: E402
                            write_page_xml)
from webapp.corpus.transfer import layout_import  # noqa: E402
from webapp.projects.models import Project  # noqa: E402
from webapp.projects.services import project_create  # noqa: E402
from ml.data.shared import NEW_PROJECT  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = NEW_PROJECT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a folder of ALTO/PAGE XML with images")
    parser.add_argument("--zip-mb", type=float, nargs="*", default=[50, 100], help="zip sizes for (b); none: skip")
    parser.add_argument("--page-pages", type=int, default=40, help="pages in the PAGE folder of (a)")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user(username=f"import-bench-{time.time_ns()}")
    figures: dict = {}
    work = Path(tempfile.mkdtemp(prefix="import-bench-"))
    try:
        with override_settings(MEDIA_ROOT=str(work / "media")):
            figures["cremma_folder"] = folder_import(user, args.data, "CREMMA folder (ALTO)")
            page_folder = write_page_folder(args.data, work / "page-xml", pages=args.page_pages)
            figures["page_folder_outside"] = folder_import(user, page_folder, "PAGE 2013 folder, points outside")
        figures["zip_http"] = [zip_import(user, args.data, work, size_mb) for size_mb in args.zip_mb]
    finally:
        Project.objects.filter(created_by=user).delete()  # with their pages and lines
        user.delete()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"bench": "import", **figures}))


# (a) folders ---------------------------------------------------------------------------------------


def folder_import(user, folder: Path, label: str) -> dict:
    project = project_create(creator=user, name=f"import bench: {label}", use_base_models=False)
    started = time.perf_counter()
    result = layout_import(project=project, user=user, paths=[folder])
    seconds = time.perf_counter() - started
    figures = {"pages": result.pages_created, "lines": result.lines_created, "lines_clipped": result.lines_clipped,
               "lines_skipped": result.lines_skipped, "files_skipped": result.files_skipped,
               "seconds": round(seconds, 1), "pages_per_second": round(result.pages_created / seconds, 2)}
    print(f"{label}: {figures['pages']} pages, {figures['lines']} lines imported, {figures['lines_clipped']} "
          f"clipped, {figures['lines_skipped']} skipped, {figures['files_skipped']} files skipped, in "
          f"{seconds:.1f} s ({figures['pages_per_second']} pages/s)", flush=True)
    project.delete()
    return figures


def write_page_folder(data: Path, folder: Path, *, pages: int) -> Path:
    """PAGE 2013 files of the first `pages` pages with their images (linked), every 4th line reaching
    1-10 px past the right edge, every 15th 300 px past it, and one line per page wholly outside."""
    folder.mkdir(parents=True)
    for xml_path, image_path in pair_layouts_with_images(data)[:pages]:
        layout = read_layout(xml_path)
        lines = []
        for number, line in enumerate(layout.lines):
            x0, y0, x1, y1 = line.bbox
            if number % 15 == 1:
                x1 = layout.width + 300
            elif number % 4 == 0:
                x1 = layout.width + 1 + number % 10
            lines.append(LineAnnotation(bbox=(x0, y0, x1, y1), text=line.text, id=f"l{number}",
                                        polygon=[(x0, y0), (x1, y0), (x1, y1), (x0, y1)]))
        lines.append(LineAnnotation(bbox=(layout.width + 20, 10, layout.width + 200, 60), text="outside",
                                    id="outside", polygon=None))
        page = PageAnnotation(image_filename=image_path.name, width=layout.width, height=layout.height, lines=lines)
        (folder / f"{xml_path.stem}.xml").write_bytes(write_page_xml(page, schema="2013"))
        (folder / image_path.name).symlink_to(image_path.resolve())
    return folder


# (b) a zip through HTTP ----------------------------------------------------------------------------


def build_zip(data: Path, path: Path, size_mb: float) -> int:
    """Copies of the folder's pages, each in its own folder and with a mark that makes its pixels unique,
    until the zip reaches size_mb. Returns the number of pages."""
    pairs = pair_layouts_with_images(data)
    target = size_mb * 1024 * 1024
    count = 0
    with zipfile.ZipFile(path, "w") as archive:
        while path.stat().st_size < target:
            xml_path, image_path = pairs[count % len(pairs)]
            with Image.open(image_path) as source:
                image = source.convert("L")
            for bit in range(20):  # the copy number, in a row of pixels along the top edge
                image.putpixel((bit, 0), 255 if count >> bit & 1 else 0)
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=90)
            folder = f"copy-{count:05d}"
            archive.writestr(f"{folder}/{image_path.name}", buffer.getvalue())
            archive.writestr(f"{folder}/{xml_path.name}", xml_path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
            count += 1
            archive.fp.flush()
    return count


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def worker_pid(master: int, timeout: float = 60) -> int:
    """gunicorn's one worker: the process whose parent is the master."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                return int(stat.parent.name)
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn {master} started no worker")


def post_file(port: int, url: str, token: str, path: Path, name: str, timeout: float = 3600) -> tuple[int, dict]:
    """A multipart POST whose file part is streamed from disk, as curl -F files=@... sends it."""
    boundary = f"bench{time.time_ns()}"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        with path.open("rb") as stream:
            while chunk := stream.read(1024 * 1024):
                yield chunk
        yield tail

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request("POST", url, body=body(), headers={
        "Authorization": f"Token {token}", "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + path.stat().st_size + len(tail)), "Host": "127.0.0.1"})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, json.loads(payload) if payload.startswith(b"{") else {"raw": payload[:500].decode()}


def zip_import(user, data: Path, work: Path, size_mb: float) -> dict:
    started = time.perf_counter()
    zip_path = work / f"collection-{size_mb:g}mb.zip"
    pages = build_zip(data, zip_path, size_mb)
    zip_mb = zip_path.stat().st_size / 1024 / 1024
    print(f"zip of {zip_mb:.0f} MB: {pages} pages, built in {time.perf_counter() - started:.0f} s", flush=True)
    warm = work / "warm-up.zip"
    build_zip(data, warm, 0.01)  # one page: loads every module of the import before the baseline
    project = project_create(creator=user, name=f"import bench: {size_mb:g} MB zip", use_base_models=False)
    warm_project = project_create(creator=user, name="import bench: warm-up", use_base_models=False)
    token = Token.objects.get_or_create(user=user)[0].key
    port = free_port()
    env = {**os.environ, "MEDIA_ROOT": str(work / "media"), "SECURE_SSL_REDIRECT": "0",
           "ALLOWED_HOSTS": "127.0.0.1", "FILE_UPLOAD_TEMP_DIR": str(work)}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "webapp.wsgi:application", "--bind",
                               f"127.0.0.1:{port}", "--workers", "1", "--timeout", "0", "--log-level", "warning"],
                              cwd=REPO, env=env)
    try:
        wait_for_health(port)
        worker = worker_pid(server.pid)
        status, _ = post_file(port, f"/api/projects/{warm_project.pk}/import/", token, warm, "warm-up.zip")
        assert status == 201, status
        warm_kib = vm_kib(worker, "VmHWM")
        started = time.perf_counter()
        status, body = post_file(port, f"/api/projects/{project.pk}/import/", token, zip_path, zip_path.name)
        seconds = time.perf_counter() - started
        peak_kib = vm_kib(worker, "VmHWM")
    finally:
        server.terminate()
        server.wait(timeout=60)
    if status != 201:
        raise RuntimeError(f"the import answered {status}: {body}")
    figures = {"zip_mb": round(zip_mb, 1), "pages": body["pages_created"], "lines": body["lines_created"],
               "seconds": round(seconds, 1), "pages_per_second": round(body["pages_created"] / seconds, 2),
               "mb_per_second": round(zip_mb / seconds, 2), "worker_peak_rss_mb": round(peak_kib / 1024),
               "worker_peak_rss_after_warm_up_mb": round(warm_kib / 1024),
               "growth_mb": round((peak_kib - warm_kib) / 1024)}
    print(f"zip of {zip_mb:.0f} MB through HTTP: HTTP {status}, {figures['pages']} pages, {figures['lines']} lines "
          f"in {seconds:.0f} s ({figures['pages_per_second']} pages/s, {figures['mb_per_second']} MB/s); gunicorn "
          f"worker peak RSS {figures['worker_peak_rss_mb']} MB ({figures['worker_peak_rss_after_warm_up_mb']} MB "
          f"after a one-page warm-up, +{figures['growth_mb']} MB)", flush=True)
    project.delete()
    warm_project.delete()
    zip_path.unlink()
    return figures


def wait_for_health(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/health/", headers={"Host": "127.0.0.1"})
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"gunicorn did not answer on port {port} within {timeout:.0f} s")


if __name__ == "__main__":
    main()
