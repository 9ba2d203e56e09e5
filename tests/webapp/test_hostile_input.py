"""Hostile input and racing clients: a 4xx with a reason, never a 500, and nothing left behind.

PostgreSQL refuses NUL in text, so a NUL reaching any query used to fail as a 500; concurrent
DELETEs of one line found it gone under their lock; concurrent uploads of one image each wrote a
copy of the file that only one page row could own.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.webapp.conftest import png_bytes, upload
from webapp.corpus.models import Line, Page
from webapp.corpus.services import LineData, PageToStore, ingest_limits, line_create, pages_store
from webapp.ingest import ingest_upload


def files_under(root) -> list[Path]:
    return [path for path in Path(root).rglob("*") if path.is_file()]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["search/?q=will%00", "models/?kind=recognizer%00", "pages/?group=a%00"])
def test_a_nul_in_a_query_string_is_a_400_that_says_so(manager_client, project, path):
    response = manager_client.get(f"/api/projects/{project.pk}/{path}")
    assert response.status_code == 400
    assert response.json()["detail"] == ("The request's query string contains a NUL character, which nothing here "
                                         "accepts.")


@pytest.mark.django_db
def test_a_nul_in_the_review_ui_search_is_a_400(manager, project):
    browser = Client()
    browser.force_login(manager)
    assert browser.get(f"/projects/{project.pk}/?q=a%00b").status_code == 400


@pytest.mark.django_db
def test_a_token_with_a_nul_is_a_400_not_a_500(manager):
    token = Token.objects.create(user=manager)
    client = APIClient()
    response = client.get("/api/projects/", HTTP_AUTHORIZATION=f"Token {token.key[:10]}\x00{token.key[10:]}")
    assert response.status_code == 400
    assert "Authorization header contains a NUL" in response.json()["detail"]
    assert client.get("/api/projects/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200


ML_BACKEND_ROUTES = [("get", "/ml/"), ("get", "/ml/health"), ("post", "/ml/setup"), ("post", "/ml/predict"),
                     ("post", "/ml/webhook")]


@pytest.mark.django_db
@pytest.mark.parametrize("method, path", ML_BACKEND_ROUTES)
@pytest.mark.parametrize("credentials", ["Basic é", "Basic aW5rbG9vcDrp", "Basic ★★★"])
def test_non_ascii_basic_credentials_on_the_ml_backend_are_refused_not_a_500(method, path, credentials):
    client = APIClient()
    send = client.get if method == "get" else lambda url, **extra: client.post(url, {"tasks": []}, format="json",
                                                                               **extra)
    response = send(path, HTTP_AUTHORIZATION=credentials)
    assert response.status_code in (401, 403)
    assert "credentials are missing or wrong" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("group", ["a\x00b", "g" * 256])
def test_a_bad_group_refuses_the_upload_and_the_import_before_anything_is_stored(manager_client, project, settings,
                                                                                 group):
    response = upload(manager_client, project.pk, ("page.png", png_bytes()), group=group)
    assert response.status_code == 400 and response.json()["detail"].startswith("group: ")
    imported = manager_client.post(f"/api/projects/{project.pk}/import/", {
        "files": [_file("page.png", png_bytes())], "group": group}, format="multipart")
    assert imported.status_code == 400 and imported.json()["detail"].startswith("group: ")
    assert not Page.objects.exists()
    assert files_under(settings.MEDIA_ROOT) == []


def _file(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


def _race(requests, *, hold) -> list[int]:
    """Run `requests` in threads while this thread holds `hold()`'s lock, so all of them get past their
    view's lookup and queue behind it; then let go. Returns their status codes (500 for an exception)."""
    codes: list[int] = []

    def run(send):
        try:
            codes.append(send().status_code)
        except Exception:  # the test client re-raises a view's exception: that is the 500 a client sees
            codes.append(500)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(send,)) for send in requests]
    with transaction.atomic():
        hold()
        for thread in threads:
            thread.start()
        time.sleep(1.5)  # every request is now waiting on the lock held here
    for thread in threads:
        thread.join(timeout=60)
    return codes


@pytest.mark.django_db(transaction=True)
def test_concurrent_deletes_and_a_patch_of_one_line_give_one_winner_and_no_500(client_for, manager, project):
    page = pages_store(project=project, user=manager, pages=[
        PageToStore(image=ingest_upload(png_bytes(), "p.png", limits=ingest_limits())[0])])[0].page
    line = line_create(page=page, user=manager, data=LineData(bbox=[10, 30, 110, 50], text="Je lègue"))
    url = f"/api/projects/{project.pk}/lines/{line.pk}/"
    deletes = [lambda: client_for(manager).delete(f"{url}?version={line.version}") for _ in range(3)]
    patch = lambda: client_for(manager).patch(url, {"version": line.version, "text": "Je donne"},  # noqa: E731
                                              format="json")
    codes = _race([*deletes, patch], hold=lambda: Line.objects.select_for_update().get(pk=line.pk))

    assert 500 not in codes, codes
    assert set(codes) <= {200, 204, 404, 409}, codes
    gone = not Line.objects.filter(pk=line.pk).exists()
    if gone:  # a DELETE won: the others find nothing (404) or a newer version (409)
        assert codes.count(204) == 1 and 200 not in codes, codes
    else:  # the PATCH won: every DELETE was based on the old version
        assert codes.count(200) == 1 and codes.count(409) == 3, codes
        assert Line.objects.get(pk=line.pk).text == "Je donne"


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_of_one_image_leave_one_page_and_one_file(client_for, manager, project, settings):
    image = png_bytes(shade=180)
    uploads = [lambda: upload(client_for(manager), project.pk, ("same.png", image)) for _ in range(3)]

    def first_upload_uncommitted():
        # A page of the same image, inserted but not committed: the uploads get past "is it there
        # already?", write their file and wait on the unique index until this commits.
        pages_store(project=project, user=manager, pages=[
            PageToStore(image=ingest_upload(image, "same.png", limits=ingest_limits())[0])])

    codes = _race(uploads, hold=first_upload_uncommitted)
    assert codes == [200, 200, 200]  # each answered with the existing page (created: false)
    assert Page.objects.filter(project=project).count() == 1
    assert [path.name for path in files_under(settings.MEDIA_ROOT)] == [Path(Page.objects.get().image.name).name]
