"""Errors the command line reports as usage errors (kept free of heavy imports)."""


class SpecError(Exception):
    """A stage spec (or the course) is broken; the message names file and field."""


class UsageError(Exception):
    """The command was asked for something that does not exist (folder, stage...)."""
