from django.urls import path

from webapp.review import views, views_editor

app_name = "review"

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("projects/<int:project_id>/", views.dashboard, name="dashboard"),
    path("projects/<int:project_id>/training/", views.training_live, name="training-live"),
    path("projects/<int:project_id>/review/", views.review_queue, name="queue"),
    path("projects/<int:project_id>/review/lines/", views.queue_lines, name="queue-lines"),
    path("projects/<int:project_id>/lines/<int:line_id>/crop.png", views.line_crop, name="line-crop"),
    path("projects/<int:project_id>/lines/<int:line_id>/undo/", views.line_undo, name="line-undo"),
    path("projects/<int:project_id>/upload/", views.upload, name="upload"),
    # Page editor
    path("projects/<int:project_id>/pages/<int:page_id>/", views_editor.page_detail, name="page"),
]
