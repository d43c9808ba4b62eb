"""The one exception class of a user's mistake.

A :class:`UserError` (a config outside its domain, a folder of another study, a store that is locked or
incomplete, an unreachable scheduler) carries a one-line message that names the problem and the remedy.
The command line prints it and exits with status 2, without a traceback.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(ValueError):
    """A user's mistake, with a one-line message naming the problem and the remedy."""
