from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    label = "labeling"
    verbose_name = "Label Studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from labeling import receivers

        receivers.connect()
