"""Pages through the REST API: upload in every accepted form, groups and splits, listing,
deletion, and the signed image URLs."""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from pathlib import Path
from unittest import mock
from urllib.parse import urlparse

import pytest
from PIL import Image
from rest_framework.test import APIClient

from tests.webapp.conftest import png_bytes, upload
from webapp.corpus import services
from webapp.corpus.lines import LineData
from webapp.corpus.models import Line, LineRevision, Page, split_for_group
from webapp.corpus.signing import page_image_token
from webapp.projects.models import Role

pytestmark = pytest.mark.django_db


def stored_files(root) -> list[Path]:
    return sorted(path for path in Path(root).rglob("*") if path.is_file())


def image_bytes(fmt: str, size=(60, 40), colour=(200, 30, 30), mode="RGB", **params) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, fmt, **params)
    return buffer.getvalue()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in entries.items():
            archive.writestr(path, data)
    return buffer.getvalue()


# ---------------------------------------------------------------------- upload


def test_upload_one_png(manager_client, project, manager, settings):
    response = upload(manager_client, project.pk, ("scan.png", png_bytes(120, 80)))

    assert response.status_code == 201, response.data
    assert len(response.data) == 1
    body = response.data[0]
    assert body["created"] is True
    assert (body["original_name"], body["width"], body["height"]) == ("scan.png", 120, 80)
    assert (body["group"], body["status"], body["confidence"], body["ls_task_id"]) == ("scan", "new", None, None)
    assert body["split"] in {"train", "val", "test"}
    page = Page.objects.get(pk=body["id"])
    assert page.project == project and page.uploaded_by == manager
    stored = Path(settings.MEDIA_ROOT) / page.image.name
    assert stored_files(settings.MEDIA_ROOT) == [stored]
    assert body["sha256"] == page.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert Image.open(stored).size == (120, 80)
    url = urlparse(body["image_url"])
    assert url.scheme == "http" and url.netloc == "testserver" and url.path.startswith("/media/pages/")


def test_upload_several_files_at_once(manager_client, project):
    response = upload(manager_client, project.pk, ("a.png", png_bytes(shade=200)), ("b.png", png_bytes(shade=150)),
                      ("c.jpg", image_bytes("JPEG", (90, 70))))

    assert response.status_code == 201, response.data
    assert [(p["original_name"], p["width"], p["height"], p["created"]) for p in response.data] == [
        ("a.png", 120, 80, True), ("b.png", 120, 80, True), ("c.jpg", 90, 70, True)]
    assert Page.objects.filter(project=project).count() == 3
    assert Page.objects.get(original_name="c.jpg").extension == ".jpg"


def test_upload_a_zip_of_images(manager_client, project):
    archive = zip_bytes({"box/p1.png": png_bytes(shade=200), "box/p2.png": png_bytes(shade=100),
                         "__MACOSX/._p1.png": b"junk"})

    response = upload(manager_client, project.pk, ("letters.zip", archive))

    assert response.status_code == 201, response.data
    assert [p["original_name"] for p in response.data] == ["letters.zip/box/p1.png", "letters.zip/box/p2.png"]
    assert Page.objects.filter(project=project).count() == 2


def test_upload_a_multi_page_tiff(manager_client, project):
    frames = [Image.new("L", (50 + 10 * i, 40), 40 * i) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:])

    response = upload(manager_client, project.pk, ("register.tif", buffer.getvalue()))

    assert response.status_code == 201, response.data
    assert [(p["original_name"], p["width"]) for p in response.data] == [
        ("register.tif#p1", 50), ("register.tif#p2", 60), ("register.tif#p3", 70)]
    # All pages of one file are one document: one group, one split.
    assert {p["group"] for p in response.data} == {"register.tif"}
    assert len({p["split"] for p in response.data}) == 1


def test_upload_a_two_page_pdf(manager_client, project):
    pages = [Image.new("RGB", (144, 216), "white"), Image.new("RGB", (216, 144), "white")]
    buffer = io.BytesIO()
    pages[0].save(buffer, "PDF", save_all=True, append_images=pages[1:], resolution=72)

    response = upload(manager_client, project.pk, ("book.pdf", buffer.getvalue()))

    assert response.status_code == 201, response.data
    assert [p["original_name"] for p in response.data] == ["book.pdf#p1", "book.pdf#p2"]
    first, second = response.data
    # Rendered at 200 dpi: 2 x 3 inches, then 3 x 2 inches.
    assert (first["width"], first["height"]) == (400, 600)
    assert (second["width"], second["height"]) == (600, 400)
    assert first["group"] == second["group"] == "book.pdf"
    assert Page.objects.filter(project=project).count() == 2


def test_exif_orientation_is_applied(manager_client, project, settings):
    image = Image.new("RGB", (40, 20), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, exif=exif.tobytes())

    response = upload(manager_client, project.pk, ("phone.jpg", buffer.getvalue()))

    assert response.status_code == 201, response.data
    assert (response.data[0]["width"], response.data[0]["height"]) == (20, 40)
    page = Page.objects.get(pk=response.data[0]["id"])
    stored = Image.open(Path(settings.MEDIA_ROOT) / page.image.name)
    assert stored.size == (20, 40)
    assert 0x0112 not in stored.getexif()


def test_the_same_image_twice_gives_the_existing_page(manager_client, project, settings):
    first = upload(manager_client, project.pk, ("scan.png", png_bytes()))
    files = stored_files(settings.MEDIA_ROOT)

    again = upload(manager_client, project.pk, ("renamed.png", png_bytes()))

    assert first.status_code == 201 and again.status_code == 200
    assert again.data[0]["created"] is False
    assert again.data[0]["id"] == first.data[0]["id"]
    assert again.data[0]["original_name"] == "scan.png"
    assert Page.objects.count() == 1
    assert stored_files(settings.MEDIA_ROOT) == files


def test_a_new_and_a_known_image_together_answer_201(manager_client, project):
    first = upload(manager_client, project.pk, ("scan.png", png_bytes()))

    mixed = upload(manager_client, project.pk, ("scan.png", png_bytes()), ("new.png", png_bytes(shade=10)))

    assert mixed.status_code == 201
    assert [(p["id"] == first.data[0]["id"], p["created"]) for p in mixed.data] == [(True, False), (False, True)]


# ------------------------------------------------------------- groups and splits


def test_group_given_at_upload_wins(manager_client, project):
    response = upload(manager_client, project.pk, ("will_12-3.png", png_bytes()), group="box 7")

    assert response.data[0]["group"] == "box 7"


def test_group_derived_from_the_filename_rule(manager_client, project):
    response = upload(manager_client, project.pk, ("will_12-3.png", png_bytes(shade=1)),
                      ("will_12-4.png", png_bytes(shade=2)), ("will_13-1.png", png_bytes(shade=3)))

    assert [p["group"] for p in response.data] == ["will_12", "will_12", "will_13"]


def test_group_defaults_to_the_page_itself(manager_client, project):
    response = upload(manager_client, project.pk, ("folio.png", png_bytes(shade=1)))
    project.group_pattern = ""
    project.save()
    plain = upload(manager_client, project.pk, ("will_12-3.png", png_bytes(shade=2)))

    assert response.data[0]["group"] == "folio"
    assert plain.data[0]["group"] == "will_12-3"


def test_pages_of_one_group_share_their_split(manager_client, project):
    files = [(f"will_{g}-{n}.png", png_bytes(shade=g * 5 + n)) for g in range(12) for n in range(3)]

    response = upload(manager_client, project.pk, *files)

    assert response.status_code == 201
    by_group: dict[str, set[str]] = {}
    for page in response.data:
        by_group.setdefault(page["group"], set()).add(page["split"])
    assert len(by_group) == 12
    assert all(len(splits) == 1 for splits in by_group.values())
    for group, splits in by_group.items():
        assert splits == {split_for_group(project_id=project.pk, group=group, val_percent=10, test_percent=10)}
    assert set().union(*by_group.values()) <= {"train", "val", "test"}


def test_a_later_page_joins_its_groups_split_even_after_the_percentages_change(manager_client, project):
    first = upload(manager_client, project.pk, ("will_1-1.png", png_bytes(shade=1))).data[0]
    new_percentages = {"val_percent": 100, "test_percent": 0} if first["split"] == "train" else \
        {"val_percent": 0, "test_percent": 0}
    assert manager_client.patch(f"/api/projects/{project.pk}/", new_percentages, format="json").status_code == 200

    later = upload(manager_client, project.pk, ("will_1-2.png", png_bytes(shade=2))).data[0]

    assert later["group"] == first["group"] == "will_1"
    assert later["split"] == first["split"]


def test_the_split_of_a_page_never_changes(manager_client, project):
    first = upload(manager_client, project.pk, ("will_1-1.png", png_bytes(shade=1))).data[0]
    manager_client.patch(f"/api/projects/{project.pk}/", {"val_percent": 50, "test_percent": 50}, format="json")

    assert manager_client.get(f"/api/projects/{project.pk}/pages/{first['id']}/").data["split"] == first["split"]


# ---------------------------------------------------------------- list, detail


@pytest.fixture
def four_pages(manager_client, project, manager):
    files = [("a-1.png", png_bytes(shade=10)), ("a-2.png", png_bytes(shade=20)), ("b-1.png", png_bytes(shade=30)),
             ("c.png", png_bytes(shade=40))]
    ids = [p["id"] for p in upload(manager_client, project.pk, *files).data]
    pages = [Page.objects.get(pk=pk) for pk in ids]
    # a-1: every line verified (done); a-2: one model line, unverified (predicted); others: no lines (new).
    services.line_create(page=pages[0], user=manager, data=LineData(bbox=(1, 1, 50, 20), text="one"))
    services.line_create(page=pages[0], user=manager, data=LineData(bbox=(1, 30, 50, 50), text="two"))
    Line.objects.create(page=pages[1], project=pages[1].project, x0=1, y0=1, x1=40, y1=20, text="guess", source="model",
                        confidence=0.3)
    services.page_status_refresh(page=pages[1])
    return pages


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.data
    return [page["id"] for page in response.data["results"]]


def test_list_all_pages_with_counts(manager_client, project, four_pages):
    response = manager_client.get(f"/api/projects/{project.pk}/pages/")

    assert ids_of(response) == [p.pk for p in four_pages]
    assert response.data["count"] == 4
    counts = [(p["line_count"], p["verified_line_count"], p["status"]) for p in response.data["results"]]
    assert counts == [(2, 2, "done"), (1, 0, "predicted"), (0, 0, "new"), (0, 0, "new")]


def test_list_filters(manager_client, project, four_pages):
    url = f"/api/projects/{project.pk}/pages/"
    a1, a2, b1, c = (p.pk for p in four_pages)

    assert ids_of(manager_client.get(url, {"status": "new"})) == [b1, c]
    assert ids_of(manager_client.get(url, {"status": "done"})) == [a1]
    assert ids_of(manager_client.get(url, {"group": "a"})) == [a1, a2]
    assert ids_of(manager_client.get(url, {"group": "c"})) == [c]
    assert ids_of(manager_client.get(url, {"has_verified_lines": "true"})) == [a1]
    assert ids_of(manager_client.get(url, {"has_verified_lines": "false"})) == [a2, b1, c]
    for split in ("train", "val", "test"):
        expected = [p.pk for p in four_pages if p.split == split]
        assert ids_of(manager_client.get(url, {"split": split})) == expected
    assert ids_of(manager_client.get(url, {"group": "a", "status": "predicted"})) == [a2]


def test_list_refuses_unknown_filter_values(manager_client, project):
    response = manager_client.get(f"/api/projects/{project.pk}/pages/", {"split": "holdout"})

    assert response.status_code == 400
    # An empty boolean is no boolean: answering every page would look like a filter that matched them all.
    empty = manager_client.get(f"/api/projects/{project.pk}/pages/?has_verified_lines=")
    assert empty.status_code == 400 and "has_verified_lines" in empty.json()["errors"]
    assert response.data["detail"].startswith("split:")


def test_list_pagination(manager_client, project, four_pages):
    url = f"/api/projects/{project.pk}/pages/"

    first = manager_client.get(url, {"page_size": 3})
    second = manager_client.get(url, {"page_size": 3, "page": 2})

    assert first.data["count"] == 4 and ids_of(first) == [p.pk for p in four_pages[:3]]
    assert first.data["next"] is not None and first.data["previous"] is None
    assert ids_of(second) == [four_pages[3].pk] and second.data["next"] is None


def test_page_detail(client_for, member, project, four_pages):
    annotator = member(Role.ANNOTATOR)

    response = client_for(annotator).get(f"/api/projects/{project.pk}/pages/{four_pages[0].pk}/")

    assert response.status_code == 200
    body = response.data
    assert (body["id"], body["original_name"], body["group"], body["status"]) == (four_pages[0].pk, "a-1.png", "a",
                                                                                   "done")
    assert (body["line_count"], body["verified_line_count"]) == (2, 2)
    assert body["sha256"] == four_pages[0].sha256


def test_unknown_page_is_404(manager_client, project):
    assert manager_client.get(f"/api/projects/{project.pk}/pages/999999/").status_code == 404


# -------------------------------------------------------------------- delete


def test_delete_removes_page_lines_and_image(manager_client, project, four_pages, settings,
                                             django_capture_on_commit_callbacks):
    page = four_pages[0]
    path = Path(settings.MEDIA_ROOT) / page.image.name
    assert path.is_file()

    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.delete(f"/api/projects/{project.pk}/pages/{page.pk}/")

    assert response.status_code == 204
    assert not Page.objects.filter(pk=page.pk).exists()
    assert not Line.objects.filter(page_id=page.pk).exists()
    assert not LineRevision.objects.filter(page_id=page.pk).exists()
    assert not path.exists()
    assert len(stored_files(settings.MEDIA_ROOT)) == 3  # the other pages keep their images
    assert manager_client.get(f"/api/projects/{project.pk}/pages/{page.pk}/").status_code == 404


def test_a_deleted_page_can_be_uploaded_again(manager_client, project, settings, django_capture_on_commit_callbacks):
    first = upload(manager_client, project.pk, ("scan.png", png_bytes())).data[0]
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.delete(f"/api/projects/{project.pk}/pages/{first['id']}/")

    again = upload(manager_client, project.pk, ("scan.png", png_bytes()))

    assert again.status_code == 201 and again.data[0]["created"] is True
    page = Page.objects.get(pk=again.data[0]["id"])
    assert (Path(settings.MEDIA_ROOT) / page.image.name).is_file()


# ---------------------------------------------------------------- signed URLs


def test_signed_image_url_serves_the_bytes_without_authentication(manager_client, project, settings):
    body = upload(manager_client, project.pk, ("scan.png", png_bytes())).data[0]
    page = Page.objects.get(pk=body["id"])

    anonymous = APIClient()
    response = anonymous.get(urlparse(body["image_url"]).path)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    content = b"".join(response.streaming_content)
    assert content == (Path(settings.MEDIA_ROOT) / page.image.name).read_bytes()
    assert hashlib.sha256(content).hexdigest() == body["sha256"]


def test_signed_image_url_of_a_jpeg_page_says_jpeg(manager_client, project):
    body = upload(manager_client, project.pk, ("scan.jpg", image_bytes("JPEG"))).data[0]

    response = APIClient().get(urlparse(body["image_url"]).path)

    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"


def test_tampered_token_is_403(manager_client, project):
    body = upload(manager_client, project.pk, ("scan.png", png_bytes())).data[0]
    path = urlparse(body["image_url"]).path
    token = path.rstrip("/").rsplit("/", 1)[-1]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")

    response = APIClient().get(f"/media/pages/{tampered}/")

    assert response.status_code == 403
    assert response.json()["detail"] == "This image link is invalid or has expired."


def test_token_signed_for_another_page_cannot_be_reused(manager_client, project):
    """The payload names the page; swapping the page id inside invalidates the signature."""
    from django.core import signing

    first, second = upload(manager_client, project.pk, ("a.png", png_bytes(shade=1)),
                           ("b.png", png_bytes(shade=2))).data
    token = urlparse(first["image_url"]).path.rstrip("/").rsplit("/", 1)[-1]
    payload, rest = token.split(":", 1)
    forged_payload = signing.b64_encode(
        signing.JSONSerializer().dumps({"p": second["id"], "h": second["sha256"][:16]})).decode()

    response = APIClient().get(f"/media/pages/{forged_payload}:{rest}/")

    assert response.status_code == 403


def test_expired_token_is_403(manager_client, project, settings):
    body = upload(manager_client, project.pk, ("scan.png", png_bytes())).data[0]
    page = Page.objects.get(pk=body["id"])
    with mock.patch("time.time", return_value=time.time() - settings.INKLOOP_SIGNED_URL_MAX_AGE - 60):
        old_token = page_image_token(page)
    with mock.patch("time.time", return_value=time.time() - settings.INKLOOP_SIGNED_URL_MAX_AGE + 60):
        recent_token = page_image_token(page)

    assert APIClient().get(f"/media/pages/{old_token}/").status_code == 403
    assert APIClient().get(f"/media/pages/{recent_token}/").status_code == 200


def test_token_of_a_deleted_page_is_403(manager_client, project, django_capture_on_commit_callbacks):
    body = upload(manager_client, project.pk, ("scan.png", png_bytes())).data[0]
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.delete(f"/api/projects/{project.pk}/pages/{body['id']}/")

    assert APIClient().get(urlparse(body["image_url"]).path).status_code == 403


def test_image_response_cannot_run_scripts(manager_client, project):
    body = upload(manager_client, project.pk, ("scan.png", png_bytes())).data[0]

    response = APIClient().get(urlparse(body["image_url"]).path)

    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
