"""The one exception type for user mistakes.

Anything a user can cause (a bad path, a malformed file, a mismatched checkpoint) raises
`GenolongError` with a one-line message naming the file, the record or line, and what is wrong.
The CLI prints that line and exits with status 2; programming errors still raise normally.
"""


class GenolongError(Exception):
    """A user-facing error: bad input, bad configuration, bad checkpoint."""

    exit_code = 2
