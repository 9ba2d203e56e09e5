"""Input and output shapes of the REST API (no business logic here)."""

from __future__ import annotations

from rest_framework import serializers

from webapp.api.json_types import StrictJsonTypes

from webapp.corpus import transfer
from webapp.corpus.models import Line, LineRevision, Page
from webapp.corpus.signing import page_image_url
from webapp.predictions.models import FalseDetection
from webapp.projects.models import Invitation, InviteeKind, Membership, Project


class ProjectOut(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "description", "alphabet_policy", "alphabet", "group_pattern", "val_percent",
                  "test_percent", "retrain_auto", "retrain_new_lines", "retrain_new_pages", "strategy",
                  "promotion_margin", "use_base_models", "created_at", "role"]

    def get_role(self, project) -> str | None:
        return getattr(project, "caller_role", None)


class ProjectIn(StrictJsonTypes, serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["name", "description", "alphabet_policy", "alphabet", "group_pattern", "val_percent",
                  "test_percent", "retrain_auto", "retrain_new_lines", "retrain_new_pages", "strategy",
                  "promotion_margin", "use_base_models"]


class MembershipOut(serializers.ModelSerializer):
    """A member as the project's other members know them: no email or other account data."""

    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role"]


class MembershipIn(StrictJsonTypes, serializers.Serializer):
    """Who to invite: a username or an email, one of the two."""

    username = serializers.CharField(max_length=150, required=False)
    email = serializers.EmailField(max_length=254, required=False)
    role = serializers.ChoiceField(choices=Membership._meta.get_field("role").choices)

    def validate(self, data):
        given = [kind for kind in (InviteeKind.USERNAME, InviteeKind.EMAIL) if data.get(kind)]
        if len(given) != 1:
            raise serializers.ValidationError("Give a username or an email: one of the two.")
        return {"kind": given[0], "invitee": data[given[0]], "role": data["role"]}


class InvitationOut(serializers.ModelSerializer):
    """Only what the inviting managers typed and when the invitation was used, never who used it."""

    username = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField()
    accepted = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["id", "username", "email", "role", "created_at", "accepted", "accepted_at"]

    def get_username(self, invitation) -> str | None:
        return invitation.invitee if invitation.kind == InviteeKind.USERNAME else None

    def get_email(self, invitation) -> str | None:
        return invitation.invitee if invitation.kind == InviteeKind.EMAIL else None

    def get_accepted(self, invitation) -> bool:
        return invitation.accepted_at is not None


class MembershipRoleIn(StrictJsonTypes, serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership._meta.get_field("role").choices)


class PageOut(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    line_count = serializers.IntegerField(read_only=True, required=False)
    verified_line_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Page
        fields = ["id", "original_name", "width", "height", "sha256", "group", "split", "status", "confidence",
                  "ls_task_id", "created_at", "image_url", "line_count", "verified_line_count"]

    def get_image_url(self, page) -> str:
        return page_image_url(page, self.context.get("request"))


class PageUploadOut(PageOut):
    """An uploaded page and whether it was new; line counts are the page list's (GET pages/)."""

    created = serializers.BooleanField()

    class Meta(PageOut.Meta):
        fields = [name for name in PageOut.Meta.fields if name not in ("line_count", "verified_line_count")] + [
            "created"]


class PageUploadIn(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)
    group = serializers.CharField(max_length=255, required=False, allow_blank=True)


class LineOut(serializers.ModelSerializer):
    bbox = serializers.SerializerMethodField()
    verified = serializers.BooleanField(source="is_verified")
    verified_by = serializers.CharField(source="verified_by.username", default=None, allow_null=True)

    class Meta:
        model = Line
        fields = ["id", "page_id", "order", "bbox", "polygon", "baseline", "text", "source", "confidence",
                  "char_confidences", "version", "verified", "verified_by", "verified_at", "ls_region_id",
                  "updated_at"]

    def get_bbox(self, line) -> list[int]:
        return list(line.bbox)


class SearchHitOut(LineOut):
    page_name = serializers.CharField(source="page.original_name")
    similarity = serializers.FloatField()

    class Meta(LineOut.Meta):
        fields = LineOut.Meta.fields + ["page_name", "similarity"]


def points_field(**kwargs) -> serializers.ListField:
    """A list of [x, y] pairs in page pixels."""
    point = serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2)
    return serializers.ListField(child=point, max_length=10_000, **kwargs)


class LineIn(StrictJsonTypes, serializers.Serializer):
    bbox = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4)
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, default="")
    polygon = points_field(required=False, allow_null=True)
    baseline = points_field(required=False, allow_null=True)


class LineUpdateIn(StrictJsonTypes, serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The version the edit is based on.")
    bbox = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4, required=False)
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, required=False)
    polygon = points_field(required=False, allow_null=True)
    baseline = points_field(required=False, allow_null=True)


class PageLineIn(LineIn):
    id = serializers.IntegerField(required=False, allow_null=True)
    version = serializers.IntegerField(required=False, allow_null=True, min_value=1)

    def validate(self, attrs):
        if attrs.get("id") is not None and attrs.get("version") is None:
            raise serializers.ValidationError({"version": "An existing line needs the version it was read at."})
        return attrs


class PageLinesIn(StrictJsonTypes, serializers.Serializer):
    lines = PageLineIn(many=True)


class RevisionOut(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", default=None, allow_null=True)

    class Meta:
        model = LineRevision
        fields = ["id", "line_ref", "action", "user", "model_version", "old_text", "new_text", "old_geometry",
                  "new_geometry", "version", "created_at"]


class SkippedLineOut(serializers.Serializer):
    file = serializers.CharField()
    line = serializers.CharField(allow_null=True, help_text="The line's XML id, when it has one.")
    reason = serializers.CharField()


class LineNoteOut(serializers.Serializer):
    line = serializers.CharField(allow_null=True, help_text="The line's XML id, when it has one.")
    reason = serializers.CharField()


class ImportFileOut(serializers.Serializer):
    file = serializers.CharField(help_text="The file's path in the import (zip member or upload name).")
    status = serializers.ChoiceField(choices=transfer.FileStatus.CHOICES, help_text=(
        "created: a new page; merged: its image was already a page without a person's lines, which now has "
        "this file's lines; unchanged: its image was already a page with these lines; conflict: not imported, "
        "its image is already a page with other lines; skipped: not a page (XML that is neither ALTO nor PAGE, "
        "a file no XML names)."))
    detail = serializers.CharField(allow_blank=True)
    image = serializers.CharField(allow_null=True, help_text="The image the XML was paired with.")
    page_id = serializers.IntegerField(source="page.pk", allow_null=True, default=None)
    lines_created = serializers.IntegerField()
    lines_clipped = serializers.SerializerMethodField()
    lines_skipped = serializers.SerializerMethodField()
    clipped_lines = LineNoteOut(many=True, help_text="Lines that reached outside the image, clipped to it.")
    skipped_lines = LineNoteOut(many=True, help_text="Lines not imported (no area, or text that cannot be "
                                                     "stored); the rest of the page is imported.")

    def get_lines_clipped(self, item) -> int:
        return len(item.clipped_lines)

    def get_lines_skipped(self, item) -> int:
        return len(item.skipped_lines)


class ImportOut(serializers.Serializer):
    detail = serializers.CharField(help_text="What the import did, in one sentence.")
    pages_created = serializers.IntegerField()
    pages_existing = serializers.IntegerField(help_text="Files whose image was already a page.")
    pages_merged = serializers.IntegerField(help_text="Existing pages without a person's lines that got a "
                                                      "file's lines.")
    lines_created = serializers.IntegerField()
    lines_clipped = serializers.IntegerField()
    lines_skipped = serializers.IntegerField()
    files_skipped = serializers.IntegerField()
    files_not_imported = serializers.IntegerField(help_text="Files in conflict with a page's lines (see files).")
    pages = PageUploadOut(many=True)
    skipped_lines = SkippedLineOut(many=True, help_text="Every line not imported, with its file, id and reason; "
                                                        "their pages are imported.")
    files = ImportFileOut(many=True, help_text="Per file: what was created, clipped, skipped and why.")


class FalseDetectionOut(serializers.ModelSerializer):
    bbox = serializers.SerializerMethodField()
    user = serializers.CharField(source="user.username", default=None, allow_null=True)

    class Meta:
        model = FalseDetection
        fields = ["id", "page_id", "bbox", "polygon", "text", "confidence", "model_version", "line_ref", "user",
                  "created_at"]

    def get_bbox(self, detection) -> list[int]:
        return list(detection.bbox)
