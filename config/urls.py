from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common.metrics import metrics_view
from common.views import HealthView, api_not_found

api_v1 = [
    path("", include("stores.urls")),
    path("", include("inventory.urls")),
    path("", include("customers.urls")),
    path("", include("orders.urls")),
    path("", include("fulfillment.urls")),
    path("", include("returns.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", HealthView.as_view(), name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    re_path(r"^api/(?P<unmatched>.*)$", api_not_found),
]

handler400 = "common.views.bad_request"
handler404 = "common.views.not_found"
handler500 = "common.views.server_error"
