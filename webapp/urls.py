from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from webapp.api.pages import PageImageApi

urlpatterns = [
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("webapp.api.urls")),
    path("media/pages/<str:token>/", PageImageApi.as_view(), name="page-image"),
]
