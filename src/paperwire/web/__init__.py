"""The web service: pages, REST API (/api/v1) and Atom feeds over the Library."""

from paperwire.web.app import create_app

__all__ = ["create_app"]
