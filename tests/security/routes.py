"""Introspection of the app's routes: every Django URL pattern and every django-ninja operation."""

import re

from django.urls import URLPattern, URLResolver, get_resolver

from gridgov.api import api

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def django_routes() -> list[tuple[str, URLPattern]]:
    """(route string, pattern) for every URL pattern, included ones too."""
    found = []

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            else:
                found.append((prefix + str(p.pattern), p))

    walk(get_resolver().url_patterns, "")
    return found


def api_operations() -> list[tuple[str, str, object]]:
    """(method, Django route string, operation) for every django-ninja operation."""
    root = str(next(p.pattern for p in get_resolver().url_patterns if isinstance(p, URLResolver)
                    and getattr(p, "namespace", None) == api.urls_namespace))
    found = []
    for bound in api._get_bound_routers():
        for path, path_view in bound.path_operations.items():
            route = root + "/".join(part for part in (bound.prefix.strip("/"), path.strip("/")) if part)
            route = re.sub(r"\{(?:\w+:)?(\w+)\}", r"<\1>", route)
            for operation in path_view.operations:
                for method in operation.methods:
                    found.append((method, route, operation))
    return found


def probe_path(route: str) -> str:
    """A concrete path for a route string: converters and regex groups get a harmless value."""
    path = re.sub(r"<(?:\w+:)?\w+>", "1", route)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "probe.jpg", path)
    return "/" + path.lstrip("^").rstrip("$")


def refuses_anonymous(response) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code in (301, 302) and "login" in response.get("Location", "")


