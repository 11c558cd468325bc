from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common.views import HealthView

api_v1 = [
    path("", include("stores.urls")),
    path("", include("inventory.urls")),
    path("", include("orders.urls")),
    path("", include("fulfillment.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", HealthView.as_view(), name="healthz"),
]

handler404 = "common.views.not_found"
handler500 = "common.views.server_error"
