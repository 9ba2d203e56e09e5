from django.contrib import admin

from labeling.models import LabelStudioProject, SyncClash, WebhookEvent


@admin.register(LabelStudioProject)
class LabelStudioProjectAdmin(admin.ModelAdmin):
    list_display = ["project", "ls_project_id", "synced_at", "last_error"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["id", "action", "ls_project_id", "deliveries", "received_at", "processed_at", "outcome"]
    list_filter = ["action"]


@admin.register(SyncClash)
class SyncClashAdmin(admin.ModelAdmin):
    """Where a project lead sees which annotator edits lost to newer inkloop edits."""

    list_display = ["line_ref", "page", "annotator", "label_studio_text", "kept_text", "created_at"]
