from django.contrib import admin
from django.urls import include, path

from webapp.api.pages import PageImageApi

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("webapp.api.urls")),
    path("media/pages/<str:token>/", PageImageApi.as_view(), name="page-image"),
    path("", include("labeling.urls")),
    # Login, logout and password reset (Django's views; the login template is the review app's).
    path("accounts/", include("django.contrib.auth.urls")),
    # The browser UI: "/" is the signed-in user's project list.
    path("", include("webapp.review.urls")),
]

# With DEBUG off; with it on Django shows its own pages, except under /api/ (webapp/api/urls.py ends
# with a JSON catch-all, so a malformed id there is a JSON 404 either way).
handler404 = "webapp.outages.not_found"
handler500 = "webapp.outages.server_error"
