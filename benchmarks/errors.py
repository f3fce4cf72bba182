class BenchRefused(Exception):
    """A benchmark cannot run here, or its run went wrong; the message says why."""
