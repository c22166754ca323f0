"""What goes wrong with a job folder; every error here is a JobFolderError."""

from __future__ import annotations

from ..errors import PlastronError

__all__ = ["BrokenJob", "JobBusy", "JobFolderError", "JobNotFound", "JobReadError"]


class JobFolderError(PlastronError):
    """A job folder cannot be created, read or written; the message names the file."""


class JobBusy(JobFolderError):
    """Another run of the same job holds the folder."""


class JobNotFound(JobFolderError):
    """There is no job folder for this id (or the id cannot name one)."""


class BrokenJob(JobFolderError):
    """The job folder exists but cannot be described: its config.yml is missing, empty or not
    a mapping, or it has no source.csv. The message says which, in a few words."""


class JobReadError(JobFolderError):
    """A job file exists but reading it failed (permissions, I/O, malformed CSV); the message
    names the file."""
