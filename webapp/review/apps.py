from django.apps import AppConfig


class ReviewConfig(AppConfig):
    """The annotator's browser UI: project list, dashboard, line review queue, page view, upload."""

    name = "webapp.review"
    label = "review"
