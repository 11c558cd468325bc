"""URL converters that let only well-formed identifiers through to a view."""

from django.urls import register_converter


class PatternConverter:
    """A string matching `regex`: anything else (a NUL byte, say) is a 404 before it can
    reach the database."""

    regex: str

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


def converter_register(name: str, regex: str) -> None:
    """Register `<name:...>` for URL patterns, matching `regex` only."""
    register_converter(type(f"{name}_converter", (PatternConverter,), {"regex": regex}), name)
