from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions

from stores.filters import LocationFilter, near_param
from stores.selectors import location_list
from stores.serializers import LocationOutputSerializer


@extend_schema(
    parameters=[
        OpenApiParameter("near", OpenApiTypes.STR, description="lat,lng: nearest first"),
    ]
)
class LocationListView(generics.ListAPIView):
    """Stores and warehouses, filterable by kind, capability and activity, nearest first."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = LocationOutputSerializer
    filterset_class = LocationFilter

    def get_queryset(self):
        return location_list(near=near_param(self.request.query_params.get("near")))


class LocationDetailView(generics.RetrieveAPIView):
    permission_classes = [permissions.IsAuthenticated]
    serializer_class = LocationOutputSerializer
    lookup_field = "code"

    def get_queryset(self):
        return location_list()
