"""The API's JSON renderer, which also passes on a document the database already wrote."""

from dataclasses import dataclass

from rest_framework import renderers


@dataclass(frozen=True)
class RenderedJSON:
    """A JSON document written elsewhere (by PostgreSQL), answered as it is."""

    text: str


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, RenderedJSON):
            return data.text.encode()
        return super().render(data, accepted_media_type, renderer_context)
