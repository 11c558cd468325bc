"""The page an admin login locked out by django-axes answers with (429, in the admin's look).

Wired as `AXES_LOCKOUT_CALLABLE`; the limits are the `AXES_*` settings (config/settings.py).
"""

import math

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def login_locked(request: HttpRequest, response=None, credentials=None) -> HttpResponse:
    """Too many wrong passwords for this username from this address: say so, and for how long."""
    cool_off = settings.AXES_COOLOFF_TIME
    minutes = math.ceil(cool_off.total_seconds() / 60)
    context = {
        **admin.site.each_context(request),
        "title": "Login locked",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": minutes,
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
    }
    locked = TemplateResponse(request, "admin/login_locked.html", context, status=429)
    locked["Retry-After"] = str(int(cool_off.total_seconds()))
    return locked.render()
