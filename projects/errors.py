class ProjectsError(Exception):
    """Base of every refusal a projects service can raise; the message is shown to people."""


class NotAllowed(ProjectsError):
    pass


class ProjectNameTaken(ProjectsError):
    pass


class ServiceAccountProjectsInvalid(ProjectsError):
    pass


class ProjectNotDeletable(ProjectsError):
    pass
