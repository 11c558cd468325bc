from django.urls import path

from common.codes import READABLE_ALPHABET
from common.converters import converter_register
from returns import views

converter_register("rma", f"RMA[{READABLE_ALPHABET}]{{8}}")

app_name = "returns"

urlpatterns = [
    path("returns", views.ReturnListCreateView.as_view(), name="return-list"),
    path("returns/<rma:rma>", views.ReturnDetailView.as_view(), name="return-detail"),
    path("returns/<rma:rma>/receive", views.ReturnReceiveView.as_view(), name="return-receive"),
    path("returns/<rma:rma>/inspect", views.ReturnInspectView.as_view(), name="return-inspect"),
    path("returns/<rma:rma>/reject", views.ReturnRejectView.as_view(), name="return-reject"),
    path("returns/<rma:rma>/complete", views.ReturnCompleteView.as_view(), name="return-complete"),
    path("returns/<rma:rma>/cancel", views.ReturnCancelView.as_view(), name="return-cancel"),
]
