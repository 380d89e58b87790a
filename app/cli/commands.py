"""The commands of ``plan-runner``, their parser and their dispatch.

A reader that leaves early (``plan-runner history | head -1``) changes neither the
work nor the exit code: what is left to print goes to devnull, so a run's exit
code still says what the gateway answered (the run is in the history too).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from app import __version__
from app.cli import diagnose, history, profiles, run, status
from app.cli.context import (
    EXIT_INPUT,
    EXIT_SETUP,
    CliContext,
    ReaderAwareStream,
    fail,
)
from app.core.errors import InputError, PlanRunnerError, SetupError
from app.core.signals import QuitNotes

EXIT_INTERNAL = 1

# Each command module adds its subcommands through ``register(subparsers)``.
COMMAND_MODULES = (run, profiles, status, diagnose, history)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every command."""
    parser = argparse.ArgumentParser(
        prog="plan-runner",
        description="Queue test plans on a test gateway, and see what it answered. "
        "Without a command, opens the desktop app.",
    )
    parser.add_argument(
        "--version", action="version", version=f"plan-runner {__version__}"
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="open the app on a built-in demo gateway (nothing leaves this machine)",
    )
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="open the window, load the icons, reach the keyring, then exit",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log to stderr too"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    simulate = commands.add_parser(
        "simulate",
        help="serve the gateway simulator on loopback (for demos and tests)",
        add_help=False,
    )
    simulate.add_argument("sim_args", nargs=argparse.REMAINDER)
    simulate.set_defaults(handler=_simulate)
    return parser


def main(argv: Sequence[str] | None = None, notes: QuitNotes | None = None) -> int:
    """Run the command line (see :func:`app.cli.main`); return the exit code.

    ``notes`` holds the quit signals that arrived while the program loaded: one
    ends it here. A command then gets the signals' usual handlers back; the
    desktop app keeps them noted until its window takes them over.
    """
    notes = notes or QuitNotes()
    args_list = list(sys.argv[1:] if argv is None else argv)
    if notes.exit_code is not None:
        return notes.exit_code
    if args_list[:1] == ["simulate"]:
        notes.release()
        return _simulate_argv(args_list[1:])
    with _reader_aware_streams():
        args = build_parser().parse_args(args_list)
        if args.command is not None:
            notes.release()
            return _command(args)
    from app.gui.main import run_app  # noqa: PLC0415 - only the GUI needs Qt

    if notes.exit_code is not None:
        return notes.exit_code
    try:
        return run_app(demo=args.demo, self_check=args.self_check)
    except SetupError as error:  # shown in a dialog too; the terminal gets it here
        return fail(str(error), EXIT_SETUP)


@contextmanager
def _reader_aware_streams() -> Iterator[None]:
    """Let standard output and error go quiet when their reader leaves."""
    guards = {
        name: ReaderAwareStream(stream)
        for name in ("stdout", "stderr")
        if (stream := getattr(sys, name)) is not None
    }
    for name, guard in guards.items():
        setattr(sys, name, guard)
    try:
        yield
    finally:
        for name, guard in guards.items():
            guard.flush()
            setattr(sys, name, guard.stream)


def _command(args: argparse.Namespace) -> int:
    try:
        context = CliContext.from_environment(verbose=args.verbose)
    except PlanRunnerError as error:
        return fail(str(error), EXIT_SETUP)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, ReaderAwareStream):
            stream.redact = context.redactor.redact
    try:
        code: int = args.handler(args, context)
    except InputError as error:
        code = fail(str(error), EXIT_INPUT)
    except PlanRunnerError as error:
        code = fail(str(error), EXIT_SETUP)
    except KeyboardInterrupt:
        code = fail("Interrupted.", 130)
    # The last resort: a message and the log, never a traceback.
    except Exception as error:
        logging.getLogger(__name__).exception("Unexpected error in %s", args.command)
        code = fail(
            f"An unexpected error stopped the command ({type(error).__name__}). "
            f"Details are in the log: {context.paths.log_file}",
            EXIT_INTERNAL,
        )
    finally:
        context.close()
    return code


def _simulate(args: argparse.Namespace, context: CliContext) -> int:
    return _simulate_argv(args.sim_args)


def _simulate_argv(argv: list[str]) -> int:
    from app.sim.server import main as simulator_main  # noqa: PLC0415

    return simulator_main(argv)
