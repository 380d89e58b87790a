"""``plan-runner diagnose``: can this computer reach the gateway? And a support bundle.

The doctor never sends a run: it resolves, connects, shakes hands and sends one
``GET`` to the gateway's base URL without the token. Exit codes: 0 every step
passed (warnings allowed), 6 a network step failed, 8 a setup problem (no
profile, bad URL, proxy or CA file, a bundle that cannot be written), 10 the
bundle was written, but without the doctor's steps, as the profile's gateway
URL could not be read (a keyring that is missing or does not answer, a missing
or invalid URL).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.cli.context import CliContext, print_json, warn
from app.core.errors import InputError, SetupError

EXIT_INCOMPLETE_BUNDLE = 10
"""The bundle was written, but the gateway could not be checked for it."""


def register(commands: Any) -> None:
    """Add the ``diagnose`` command."""
    parser = commands.add_parser(
        "diagnose",
        help="check step by step whether the gateway can be reached; write a "
        "support bundle",
        description="Check DNS, proxy, TCP, TLS and HTTP towards the gateway, step "
        "by step, and say what to fix. No run is sent: only a GET of the gateway's "
        "base URL, without the token. With --output, also write a diagnostic "
        "bundle (a zip with every token removed) to attach to a support ticket.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--profile", metavar="NAME", help="the profile to check")
    where.add_argument("--gateway", metavar="URL", help="an ad-hoc gateway URL")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--output",
        metavar="FILE.zip",
        help="write a diagnostic bundle to this file (or into this folder)",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=50,
        metavar="N",
        help="recent runs to put in the bundle (default 50; 0 for none)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds each step may take (default 5)",
    )
    parser.set_defaults(handler=diagnose_command)


def diagnose_command(args: argparse.Namespace, context: CliContext) -> int:
    """Run the doctor (and write a bundle); return 0, 6, 8 or 10."""
    from app.core import diagnostics  # noqa: PLC0415

    if not 0 <= args.history <= 10_000:
        raise InputError("--history must be between 0 and 10000.")
    if not 1 <= args.timeout <= 60:
        raise InputError("--timeout must be between 1 and 60 seconds.")
    token = context.environment_token()
    workspace = context.workspace
    now = datetime.now(UTC)

    name, gateway, settings, source, unchecked = _target(args, workspace, diagnostics)
    steps = (
        diagnostics.run_doctor(
            gateway,
            settings,
            redactor=context.redactor,
            timeout=args.timeout,
            proxy_source=source,
        )
        if gateway is not None
        else []
    )
    code = (
        diagnostics.doctor_exit_code(steps)
        if unchecked is None
        else EXIT_INCOMPLETE_BUNDLE
    )
    report = (
        diagnostics.status_report(workspace, name, now, environment_token=token)
        if name is not None
        else None
    )

    bundle: dict[str, Any] | None = None
    if args.output:
        bundle = _write_bundle(
            args,
            context,
            diagnostics,
            name=name,
            steps=steps,
            unchecked=unchecked,
            token=token,
            now=now,
        )
    if unchecked is not None:
        warn(
            context.redactor.redact(
                f"{unchecked} The bundle was written without the gateway checks "
                f"(exit code {EXIT_INCOMPLETE_BUNDLE})."
            )
        )

    if args.json:
        print_json(
            {
                "profile": name,
                "gateway_url": gateway.base if gateway else None,
                "queue_url": gateway.queue_url if gateway else None,
                "steps": [step.to_dict() for step in steps],
                "gateway_unchecked": unchecked,
                "token": report["token"] if report else None,
                "bundle": bundle,
                "exit_code": code,
            },
            context.redactor,
        )
        return code
    lines = (
        [diagnostics.format_doctor(steps, gateway)]
        if unchecked is None
        else [unchecked, f"Result: bundle only (exit code {code})"]
    )
    if report is not None:
        lines.append(_token_line(name, report))
    if bundle is not None:
        lines.append("")
        lines.append(f"Diagnostic bundle written to {bundle['path']}")
        lines.append(f"  {len(bundle['files'])} files: {', '.join(bundle['files'])}")
        lines.append("  Removed from it:")
        lines.extend(f"    - {line}" for line in bundle["redactions"])
        lines.extend(f"  Note: {note}" for note in bundle["notes"])
        lines.append("  Look it over, then attach it to the support ticket.")
    print(context.redactor.redact("\n".join(lines)))
    return code


def _target(
    args: argparse.Namespace, workspace: Any, diagnostics: Any
) -> tuple[str | None, Any, Any, str | None, str | None]:
    """Return the profile, gateway, client settings and proxy source to check.

    The last item says why the gateway cannot be checked, when it cannot: then
    the gateway is None, and a bundle (``--output``) is written all the same.
    """
    from app.core.exchange import ClientSettings  # noqa: PLC0415
    from app.core.urls import parse_gateway_url  # noqa: PLC0415

    if args.gateway is not None:
        return None, parse_gateway_url(args.gateway), ClientSettings(), None, None
    name = _profile_name(args.profile, workspace, diagnostics)
    try:
        profile = workspace.profile(name)
    except InputError as error:
        raise SetupError(str(error)) from None
    settings = workspace.client_settings(profile)
    try:
        gateway = workspace.gateway(name)
    except SetupError as error:
        # The gateway URL lives in the keyring: when the keyring is missing or
        # stuck, support needs the bundle most, so it is written without the
        # checks that need the URL.
        if not args.output:
            raise
        unchecked = f"The gateway was not checked: its URL is not known. {error}"
        return name, None, settings, None, unchecked
    return name, gateway, settings, diagnostics.proxy_source(workspace, profile), None


def _profile_name(requested: str | None, workspace: Any, diagnostics: Any) -> str:
    if requested is not None:
        return requested
    name = diagnostics.default_profile_name(workspace)
    if name is not None:
        return str(name)
    names = [profile.name for profile in workspace.profiles()]
    if names:
        raise InputError(f"Choose a profile with --profile ({', '.join(names)}).")
    raise SetupError(
        "No profile exists yet. Add one with "
        "`plan-runner profile add NAME --gateway URL`, or use --gateway URL."
    )


def _token_line(name: str | None, report: dict[str, Any]) -> str:
    token = report["token"]
    if token.get("unread"):
        state = f"unknown, as {token['unread']}"
    elif token.get("length") is None:
        state = "none stored"
    else:
        state = str(token["expiry"])
    follow = (
        f"; see `plan-runner status --profile {name}`" if report["problems"] else ""
    )
    return f"Token of {name!r}: {state}. The doctor never sends it{follow}."


def _write_bundle(
    args: argparse.Namespace,
    context: CliContext,
    diagnostics: Any,
    *,
    name: str | None,
    steps: Any,
    unchecked: str | None,
    token: str | None,
    now: datetime,
) -> dict[str, Any]:
    target = Path(args.output).expanduser()
    if target.is_dir():
        target = target / f"plan-runner-diagnostics-{now:%Y%m%d-%H%M%S}.zip"
    preview = diagnostics.bundle_preview(
        context.workspace,
        context.paths,
        context.redactor,
        now=now,
        profile_name=name,
        doctor_steps=steps,
        doctor_skipped=unchecked,
        history_rows=args.history,
        extra_facts={"face": "command line"},
        extra_secrets={"token in PLAN_RUNNER_TOKEN": token} if token else None,
    )
    manifest = diagnostics.write_bundle(target, preview)
    return {
        "path": str(target.resolve()),
        "files": sorted(preview),
        "redactions": list(manifest.redactions),
        "notes": list(manifest.notes),
    }
