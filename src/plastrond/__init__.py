"""plastrond: a job daemon for Fedora digital repositories."""

__version__ = "0.1.0"
