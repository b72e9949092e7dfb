"""In the PostgreSQL pass of the tests, route every Python process's stores there (pg_routing)."""

import os

if os.environ.get("TESTS_POSTGRES_SERVER"):
    import pg_routing

    pg_routing.route()
