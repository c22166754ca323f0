"""The test suite, a package: test modules import their shared code from `tests.support`."""
