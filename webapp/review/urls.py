from django.urls import path

from webapp.review import views, views_editor, views_models, views_pages, views_projects

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
    # Models and runs: version history with verdicts, roll back, download; a run's own page.
    path("projects/<int:project_id>/models/", views_models.models_page, name="models"),
    path("projects/<int:project_id>/runs/<int:run_id>/", views_models.run_page, name="run"),
    path("projects/<int:project_id>/runs/<int:run_id>/live/", views_models.run_live, name="run-live"),
    # Projects: create, settings, members and their progress (views_projects).
    path("projects/new/", views_projects.project_new, name="project-new"),
    path("projects/<int:project_id>/settings/", views_projects.project_settings, name="project-settings"),
    path("projects/<int:project_id>/members/", views_projects.project_members, name="project-members"),
    path("projects/<int:project_id>/members/invite/", views_projects.member_invite, name="member-invite"),
    path("projects/<int:project_id>/members/<int:user_id>/role/", views_projects.member_role, name="member-role"),
    path("projects/<int:project_id>/members/<int:user_id>/remove/", views_projects.member_remove,
         name="member-remove"),
    path("projects/<int:project_id>/invitations/<int:invitation_id>/revoke/", views_projects.invitation_revoke,
         name="invitation-revoke"),
    # Pages: the page grid, its thumbnails, and search.
    path("projects/<int:project_id>/pages/", views_pages.page_grid_view, name="pages"),
    path("projects/<int:project_id>/pages/<int:page_id>/thumbnail.jpg", views_pages.page_thumbnail,
         name="page-thumbnail"),
    path("projects/<int:project_id>/search/", views_pages.search, name="search"),
    # Page editor
    path("projects/<int:project_id>/pages/<int:page_id>/", views_editor.page_detail, name="page"),
]
