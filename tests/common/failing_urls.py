"""The project's URLs plus one API view with a bug, to see how a server error answers."""

from django.urls import path

from config.urls import handler400, handler404, handler500, urlpatterns


def broken(request):
    raise RuntimeError("a bug")


urlpatterns = [path("api/v1/broken", broken), *urlpatterns]

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]
