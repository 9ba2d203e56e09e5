"""Import ALTO / PAGE XML with their images from folders and zips on the server:
`manage.py import_layout PROJECT PATH [PATH ...]`.

The same import as `POST /api/projects/{id}/import/` (webapp.corpus.transfer.layout_import), for
collections too large to upload: nothing passes through a request, the files are read one at a
time, and a progress bar counts the XML files. Like the API it stores all pages or none (a
refusal or an interruption leaves the project as it was), and running it again on a collection
it imported before changes nothing: pages with the same lines are left as they are.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ml.data.layout import LayoutFormatError
from webapp.corpus.transfer import FileStatus, layout_import
from webapp.ingest import UploadRejected
from webapp.projects.models import Membership, Project, Role


class Command(BaseCommand):
    help = "Import pages with their lines from ALTO/PAGE XML and images in folders or zips (e.g. a Transkribus " \
           "or eScriptorium export)."

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's id or exact name")
        parser.add_argument("paths", nargs="+", help="folders (read recursively) and zip files")
        parser.add_argument("--user", help="who the lines are recorded as verified by (default: the project's "
                                           "creator, else its first manager)")
        parser.add_argument("--group", help="one group (document or writer) for every page, instead of the "
                                            "export's document folders or the project's file name rule")

    def handle(self, *args, project: str, paths: list[str], user: str | None = None, group: str | None = None,
               **options):
        target = _project(project)
        importer = _user(target, user)
        bar = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="file", desc="importing", file=getattr(self.stderr, "_out", None),
                           disable=options["verbosity"] == 0)
            bar.update(done - bar.n)

        try:
            result = layout_import(project=target, user=importer, paths=paths, group=group, progress=progress)
        except (UploadRejected, LayoutFormatError) as error:
            raise CommandError(f"Nothing was imported: {error}") from error
        finally:
            if bar is not None:
                bar.close()
        for item in result.files:
            if item.status in (FileStatus.CONFLICT, FileStatus.SKIPPED):
                self.stderr.write(f"{item.file}: {item.status}: {item.detail}")
            for note in item.skipped_lines:
                self.stderr.write(f"{item.file}: line {note.line or '(no id)'} skipped: {note.reason}")
            if options["verbosity"] > 1:
                for note in item.clipped_lines:
                    self.stdout.write(f"{item.file}: line {note.line or '(no id)'} clipped: {note.reason}")
        self.stdout.write(f"{target.name}: {result.summary()}")


def _project(given: str) -> Project:
    found = Project.objects.filter(pk=int(given)).first() if given.isdigit() else None
    found = found or Project.objects.filter(name=given).first()
    if found is None:
        raise CommandError(f"No project with the id or name {given!r}.")
    return found


def _user(project: Project, username: str | None):
    if username:
        found = get_user_model().objects.filter(username=username).first()
        if found is None:
            raise CommandError(f"No user {username!r}.")
        return found
    manager = Membership.objects.filter(project=project, role=Role.MANAGER).order_by("id").first()
    found = project.created_by or (manager.user if manager else None)
    if found is None:
        raise CommandError(f"{project.name} has no creator or manager to record the lines under; give --user.")
    return found
