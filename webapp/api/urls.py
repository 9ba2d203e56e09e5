from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from webapp.api import lines, pages, projects, training

urlpatterns = [
    path("health/", projects.HealthApi.as_view(), name="health"),
    path("auth/token/", obtain_auth_token, name="auth-token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("projects/", projects.ProjectListApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", projects.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<int:project_id>/members/", projects.MemberListApi.as_view(), name="member-list"),
    path("projects/<int:project_id>/members/<int:user_id>/", projects.MemberDetailApi.as_view(), name="member-detail"),
    path("projects/<int:project_id>/pages/", pages.PageListApi.as_view(), name="page-list"),
    path("projects/<int:project_id>/pages/<int:page_id>/", pages.PageDetailApi.as_view(), name="page-detail"),
    path("projects/<int:project_id>/pages/<int:page_id>/lines/", lines.PageLinesApi.as_view(), name="page-lines"),
    path("projects/<int:project_id>/pages/<int:page_id>/export/", pages.PageExportApi.as_view(), name="page-export"),
    path("projects/<int:project_id>/lines/<int:line_id>/", lines.LineDetailApi.as_view(), name="line-detail"),
    path("projects/<int:project_id>/lines/<int:line_id>/revisions/", lines.LineRevisionsApi.as_view(),
         name="line-revisions"),
    path("projects/<int:project_id>/import/", pages.LayoutImportApi.as_view(), name="layout-import"),
    path("projects/<int:project_id>/export/", pages.ProjectExportApi.as_view(), name="project-export"),
    path("projects/<int:project_id>/search/", pages.SearchApi.as_view(), name="search"),
    path("projects/<int:project_id>/training-runs/", training.TrainingRunListApi.as_view(), name="training-run-list"),
    path("projects/<int:project_id>/training-runs/<int:run_id>/", training.TrainingRunDetailApi.as_view(),
         name="training-run-detail"),
    path("projects/<int:project_id>/training-runs/<int:run_id>/cancel/", training.TrainingRunCancelApi.as_view(),
         name="training-run-cancel"),
    path("projects/<int:project_id>/models/", training.ModelVersionListApi.as_view(), name="model-version-list"),
    path("projects/<int:project_id>/models/<int:version_id>/", training.ModelVersionDetailApi.as_view(),
         name="model-version-detail"),
    path("projects/<int:project_id>/models/<int:version_id>/promote/", training.ModelVersionPromoteApi.as_view(),
         name="model-version-promote"),
    path("projects/<int:project_id>/models/<int:version_id>/download/", training.ModelVersionDownloadApi.as_view(),
         name="model-version-download"),
]
