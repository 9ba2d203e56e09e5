from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "webapp.predictions"
    label = "predictions"
    default_auto_field = "django.db.models.BigAutoField"
