from django.urls import path

from labeling import views

urlpatterns = [
    path("labeling/webhook/", views.WebhookApi.as_view(), name="labeling-webhook"),
    path("labeling/pages/<str:token>/<int:page_id>/image/", views.PageImageApi.as_view(), name="labeling-page-image"),
    # Label Studio appends health, setup, predict and webhook to the backend's URL (ml/ here).
    path("ml/", views.MlHealthApi.as_view(), name="labeling-ml-root"),
    path("ml/health", views.MlHealthApi.as_view(), name="labeling-ml-health"),
    path("ml/setup", views.MlSetupApi.as_view(), name="labeling-ml-setup"),
    path("ml/predict", views.MlPredictApi.as_view(), name="labeling-ml-predict"),
    path("ml/webhook", views.MlWebhookApi.as_view(), name="labeling-ml-webhook"),
]
