# The real processes of the end-to-end tests (a redis-server of the test's own, children that
# are always stopped), for the benchmark that drives them.
from tests.e2e.conftest import database_url, free_port, redis_server, spawn  # noqa: F401
