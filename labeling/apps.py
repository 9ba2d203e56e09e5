from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    label = "labeling"
    verbose_name = "Label Studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from labeling import cors, receivers, selectors
        from webapp.review.links import register_ls_project_resolver

        receivers.connect()
        # Without it, inkloop's pages and review queue could not link to a page's Label Studio task.
        register_ls_project_resolver(selectors.ls_project_id_of)
        check_request_enabled.connect(cors.task_image_cors_allowed, dispatch_uid="labeling.task_image_cors")
