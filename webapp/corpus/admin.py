from django.contrib import admin

from webapp.corpus.models import Line, LineRevision, Page


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ["id", "original_name", "project", "group", "split", "status", "width", "height"]
    list_filter = ["status", "split", "project"]
    search_fields = ["original_name", "group", "sha256"]
    readonly_fields = ["sha256", "width", "height", "extension", "created_at"]


@admin.register(Line)
class LineAdmin(admin.ModelAdmin):
    list_display = ["id", "page", "order", "text", "source", "confidence", "version", "verified_at"]
    list_filter = ["source", "page__project"]
    search_fields = ["text"]
    raw_id_fields = ["page", "verified_by"]


@admin.register(LineRevision)
class LineRevisionAdmin(admin.ModelAdmin):
    list_display = ["id", "line_ref", "action", "user", "model_version", "version", "created_at"]
    list_filter = ["action"]
    raw_id_fields = ["page", "line", "user"]
