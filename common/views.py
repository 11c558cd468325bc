from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.health import broker_check, database_check


class HealthView(APIView):
    """Liveness and readiness: 200 when the database and the broker answer, else 503."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request: Request) -> Response:
        checks = {"database": database_check(), "broker": broker_check()}
        ok = all(check["ok"] for check in checks.values())
        return Response(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status=status.HTTP_200_OK if ok else status.HTTP_503_SERVICE_UNAVAILABLE,
        )
