"""``plan-runner status``: what a profile is set up with, and what is wrong with it.

Exit codes: 0 all good (warnings allowed), 3 a token problem (missing, expired,
unreadable), 8 a setup problem (no profile, no keyring, bad URL, proxy or CA file).
"""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.context import CliContext, print_json
from app.core.errors import InputError


def register(commands: Any) -> None:
    """Add the ``status`` command."""
    parser = commands.add_parser(
        "status",
        help="show a profile's token facts, keyring, proxy and TLS trust",
        description="Show what a profile is set up with: its gateway, the facts of "
        "its token (never the token itself), the keyring, the proxy and the TLS "
        "trust, and what is wrong. Nothing is sent. Exit code 0 when all is well, "
        "3 for a token problem, 8 for a setup problem.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--profile", metavar="NAME", help="the profile to describe")
    where.add_argument(
        "--gateway",
        metavar="URL",
        help="an ad-hoc gateway URL (the token comes from PLAN_RUNNER_TOKEN)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=status_command)


def status_command(args: argparse.Namespace, context: CliContext) -> int:
    """Print the status of a profile; return 0, 3 or 8."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from app.core.diagnostics import (  # noqa: PLC0415
        default_profile_name,
        format_status,
        status_report,
    )

    token = context.environment_token()
    workspace = context.workspace
    name = args.profile
    if name is None and args.gateway is None:
        name = default_profile_name(workspace)
        names = [profile.name for profile in workspace.profiles()]
        if name is None and names:
            raise InputError(f"Choose a profile with --profile ({', '.join(names)}).")
    report = status_report(
        workspace,
        name,
        datetime.now(UTC),
        gateway_url=args.gateway,
        environment_token=token,
    )
    if args.json:
        print_json(report, context.redactor)
    else:
        print(context.redactor.redact(format_status(report)))
    return int(report["exit_code"])
