"""``plan-runner profile …`` and ``plan-runner token …``: manage where runs go."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli.context import EXIT_OK, EXIT_SETUP, CliContext, fail, print_json, warn
from app.core.contract import parse_id
from app.core.errors import InputError


def register(commands: Any) -> None:
    """Add the ``profile`` and ``token`` commands."""
    profile = commands.add_parser("profile", help="add, list or remove profiles")
    actions = profile.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="add a profile, or update its settings")
    add.add_argument("name")
    add.add_argument("--gateway", required=True, metavar="URL")
    add.add_argument("--default-user", metavar="ID")
    add.add_argument("--timeout", type=float, metavar="S", help="read timeout")
    add.add_argument("--critical", action="store_true", help="confirm before each run")
    add.add_argument(
        "--allow-plain-http",
        action="store_true",
        help="allow sending the token over plain http to a remote host",
    )
    add.set_defaults(handler=_add)

    listing = actions.add_parser("list", help="list the profiles")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    remove = actions.add_parser("remove", help="remove a profile and its token")
    remove.add_argument("name")
    remove.set_defaults(handler=_remove)

    token = commands.add_parser("token", help="set or clear a profile's token")
    token_actions = token.add_subparsers(dest="action", metavar="ACTION", required=True)
    set_ = token_actions.add_parser(
        "set", help="read the token from standard input and store it in the keyring"
    )
    set_.add_argument("--profile", metavar="NAME")
    set_.set_defaults(handler=_token_set)
    clear = token_actions.add_parser("clear", help="remove the profile's token")
    clear.add_argument("--profile", metavar="NAME")
    clear.set_defaults(handler=_token_clear)


def _add(args: argparse.Namespace, context: CliContext) -> int:
    from app.core.settings import validate_profile_name  # noqa: PLC0415

    name = validate_profile_name(args.name)
    updates: dict[str, Any] = {}
    if args.default_user is not None:
        updates["default_user"] = parse_id(args.default_user, "default user")
    if args.timeout is not None:
        if not 1 <= args.timeout <= 600:
            raise InputError("--timeout must be between 1 and 600 seconds.")
        updates["read_timeout"] = args.timeout
    if args.critical:
        updates["critical"] = True
    if args.allow_plain_http:
        updates["allow_plain_http"] = True

    workspace = context.workspace
    if not _require_keyring(context):
        return EXIT_SETUP
    moved = workspace.token_origin_change(name, args.gateway)
    # Only the options given change: the rest of a profile that exists (in the
    # file as it is when the change is made) stays as it is.
    existed = workspace.update_profile(name, updates, gateway_url=args.gateway)
    profile = workspace.profile(name)

    gateway = workspace.gateway(profile.name)
    verb = "Updated" if existed else "Added"
    print(f"{verb} profile {profile.name!r}: runs go to {gateway.queue_url}")
    if moved is not None:
        warn(
            f"The token stored for {profile.name!r} was set for {moved[0]}; runs "
            f"now go to {moved[1]}. If the token belongs to the old environment, "
            f"set a new one: plan-runner token set --profile {profile.name}"
        )
    if not workspace.connection(profile.name).token:
        print(
            f"Next: plan-runner token set --profile {profile.name}  (paste the token)"
        )
    if (
        gateway.is_plain_http
        and not gateway.is_loopback
        and not profile.allow_plain_http
    ):
        print("Note: this is plain http; runs are refused unless --allow-plain-http.")
    return EXIT_OK


def _list(args: argparse.Namespace, context: CliContext) -> int:
    workspace = context.workspace
    rows = []
    for profile in workspace.profiles():
        try:
            connection = workspace.connection(profile.name)
            gateway, has_token = connection.gateway_url, bool(connection.token)
        except InputError:
            gateway, has_token = None, False
        except Exception as error:  # noqa: BLE001 - a keyring failure is shown per row
            gateway, has_token = f"(keyring: {error})", False
        rows.append(
            {
                "name": profile.name,
                "gateway_url": gateway,
                "has_token": has_token,
                "default_user": profile.default_user,
                "read_timeout": profile.read_timeout,
                "critical": profile.critical,
                "preset_by_policy": workspace.is_preset(profile.name),
            }
        )
    if args.json:
        print_json(rows, context.redactor)
        return EXIT_OK
    if not rows:
        print("No profiles yet. Add one: plan-runner profile add NAME --gateway URL")
        return EXIT_OK
    for row in rows:
        flags = []
        if row["preset_by_policy"]:
            flags.append("set by IT")
        if row["critical"]:
            flags.append("critical")
        flags.append("token stored" if row["has_token"] else "no token")
        user = row["default_user"] if row["default_user"] is not None else "-"
        print(
            f"{row['name']}\t{row['gateway_url'] or '(no gateway)'}\t"
            f"default user {user}\t{', '.join(flags)}"
        )
    return EXIT_OK


def _remove(args: argparse.Namespace, context: CliContext) -> int:
    context.workspace.remove_profile(args.name)
    print(f"Removed profile {args.name!r} and its token.")
    return EXIT_OK


def _token_set(args: argparse.Namespace, context: CliContext) -> int:
    workspace = context.workspace
    name = _profile_name(args, workspace)
    if not _require_keyring(context):
        return EXIT_SETUP
    if sys.stdin.isatty():
        import getpass  # noqa: PLC0415

        raw = getpass.getpass(f"Token for {name} (input hidden): ")
    else:
        raw = sys.stdin.read(64 * 1024 + 1)
    from app.core.tokens import fingerprint  # noqa: PLC0415

    token = workspace.set_token(name, raw)
    print(
        f"Stored the token for {name!r} in {context.secrets.backend_name} "
        f"({len(token)} characters, {fingerprint(token)})."
    )
    return EXIT_OK


def _token_clear(args: argparse.Namespace, context: CliContext) -> int:
    workspace = context.workspace
    name = _profile_name(args, workspace)
    workspace.clear_token(name)
    print(f"Removed the token of {name!r}.")
    return EXIT_OK


def _profile_name(args: argparse.Namespace, workspace: Any) -> str:
    if args.profile:
        return str(workspace.profile(args.profile).name)
    names = [p.name for p in workspace.profiles()]
    if workspace.settings.last_profile in names:
        return str(workspace.settings.last_profile)
    if len(names) == 1:
        return str(names[0])
    raise InputError(
        "Choose a profile with --profile"
        + (f" ({', '.join(names)})." if names else "; none exists yet.")
    )


def _require_keyring(context: CliContext) -> bool:
    store = context.secrets
    if store.persistent:
        return True
    reason = getattr(store, "reason", "no keyring is available")
    fail(
        f"{reason} The command line cannot keep a token without a keyring; use "
        "PLAN_RUNNER_TOKEN for one-off runs.",
        EXIT_SETUP,
    )
    return False
