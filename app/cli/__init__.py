"""The command line: ``plan-runner``, a thin face over the core.

With no command it opens the desktop app. Exit codes a script can rely on:
0 queued, 2 bad input (nothing sent), 3 auth, 4 rejected, 5 the gateway answered
with an error, 6 network (never sent), 7 unknown (may have been queued), 8 local
setup (no token, no keyring, bad config).

This module stays small: ``main`` starts noting quit signals before the
commands (and with them the core) are imported.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Loading the commands and Qt takes a moment. A quit signal meanwhile (Ctrl+C,
    ``kill``) is noted rather than raised inside an import, and ends the
    process quietly with 128 + its number, before anything is done.
    """
    from app.core.signals import QuitNotes  # noqa: PLC0415

    with QuitNotes() as notes:
        from app.cli import commands  # noqa: PLC0415

        return commands.main(argv, notes)
