"""Provision and reconcile Label Studio now, instead of waiting for beat: `manage.py sync_label_studio`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from labeling.client import LabelStudioUnavailable
from labeling.services.sync import project_reconcile, projects_reconcile
from webapp.projects.models import Project


class Command(BaseCommand):
    help = "Provision every project in Label Studio and repair what lost webhooks missed."

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, help="only this inkloop project id")

    def handle(self, *args, project: int | None = None, **options):
        if project is None:
            reports = projects_reconcile()
        else:
            target = Project.objects.filter(pk=project).first()
            if target is None:
                raise CommandError(f"No project {project}.")
            try:
                reports = {project: project_reconcile(project=target)}
            except LabelStudioUnavailable as error:
                raise CommandError(str(error)) from error
        for project_id, report in reports.items():
            self.stdout.write(f"project {project_id}: {report or 'in agreement'}")
        if any("error" in report for report in reports.values()):
            raise CommandError("Label Studio could not be reached for some projects; run again later.")
