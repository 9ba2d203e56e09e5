from __future__ import annotations

import pytest
from django.core.management import call_command

from webapp.corpus.models import Line, Page
from webapp.projects.models import Membership, Project, Role


@pytest.mark.django_db
def test_seed_demo_creates_admin_and_a_project_with_lines_once(monkeypatch, capsys):
    monkeypatch.setenv("INKLOOP_ADMIN_PASSWORD", "demo-password-123")
    call_command("seed_demo", data="")
    out = capsys.readouterr().out
    assert "demo-password-123" in out and "API token" in out
    project = Project.objects.get(name="Demo")
    assert Membership.objects.get(project=project).role == Role.MANAGER
    pages = Page.objects.filter(project=project)
    assert pages.count() >= 3
    assert Line.objects.filter(page__project=project).exclude(text="").count() >= 3 * pages.count()

    call_command("seed_demo", data="")
    assert Project.objects.filter(name="Demo").count() == 1
    assert Page.objects.filter(project=project).count() == pages.count()


@pytest.mark.django_db
def test_seed_demo_imports_a_layout_folder(tmp_path, cremma_dir):
    for source in sorted(cremma_dir.glob("*_0002-0.*")):
        (tmp_path / source.name).write_bytes(source.read_bytes())
    call_command("seed_demo", data=str(tmp_path))
    project = Project.objects.get(name="Demo")
    assert Page.objects.filter(project=project).count() == 1
    assert Line.objects.filter(page__project=project, verified_at__isnull=False).count() > 5
