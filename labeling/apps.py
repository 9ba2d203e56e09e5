from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    label = "labeling"
    verbose_name = "Label Studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from labeling import cors, receivers

        receivers.connect()
        check_request_enabled.connect(cors.task_image_cors_allowed, dispatch_uid="labeling.task_image_cors")
