from projects.errors import ProjectsError


class QueryRefused(ProjectsError):
    """An engage query that cannot be answered as asked (a bad parameter, a bad `where`, a
    session of another query); the message says which and why, for the 400 answer."""
