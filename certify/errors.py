"""Exceptions that the command line turns into one clear line and an exit code."""


class InputError(ValueError):
    """Bad input: the message names the problem; the command line exits with code 2."""
