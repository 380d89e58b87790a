"""``plan-runner run``: queue a plan and say what the gateway answered."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from app.cli.context import CliContext, fail, print_json, warn
from app.core.contract import parse_id
from app.core.errors import HistoryError, InputError, SetupError
from app.core.outcome import Category, Outcome, one_line
from app.core.redact import Redactor
from app.core.signals import watched_quit_signals

EXIT_CODES = {
    Category.QUEUED: 0,
    Category.AUTH: 3,
    Category.REJECTED: 4,
    Category.INVALID: 5,
    Category.RATE_LIMITED: 5,
    Category.REDIRECTED: 5,
    Category.GATEWAY: 5,
    Category.NETWORK: 6,
    Category.UNKNOWN: 7,
}

_LABELS = {
    Category.QUEUED: "QUEUED",
    Category.REJECTED: "REJECTED",
    Category.AUTH: "AUTH FAILED",
    Category.INVALID: "INVALID",
    Category.RATE_LIMITED: "RATE LIMITED",
    Category.REDIRECTED: "REDIRECTED",
    Category.GATEWAY: "GATEWAY ERROR",
    Category.NETWORK: "NOT SENT",
    Category.UNKNOWN: "UNKNOWN",
}


def register(commands: Any) -> None:
    """Add the ``run`` command."""
    parser = commands.add_parser(
        "run",
        help="queue a test plan",
        description="Queue a test plan. The token comes from PLAN_RUNNER_TOKEN when "
        "set, else from the keyring for the profile.",
    )
    parser.add_argument("--plan", required=True, metavar="ID", help="the plan ID")
    parser.add_argument(
        "--user", metavar="ID", help="the user ID (default: the profile's default user)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--profile", metavar="NAME", help="the profile to use")
    where.add_argument(
        "--gateway",
        metavar="URL",
        help="an ad-hoc gateway URL (the token must come from PLAN_RUNNER_TOKEN)",
    )
    parser.add_argument(
        "--timeout", type=float, metavar="S", help="seconds to wait for the answer"
    )
    parser.add_argument(
        "--allow-plain-http",
        action="store_true",
        help="with --gateway: allow sending the token over plain http to a remote host",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace, context: CliContext) -> int:
    """Queue the plan; print the outcome; return its exit code.

    SIGTERM and SIGHUP (``kill``, a cancelled CI job, a closed terminal) end a
    run as Ctrl+C does: while the answer is awaited the run ends ``unknown``,
    is recorded, and the command exits 7; before anything is sent it exits
    128 + the signal's number. Once the outcome is known, a signal waits until
    the outcome is recorded and printed.
    """
    plan_id = parse_id(args.plan, "plan")
    user_id = parse_id(args.user, "user") if args.user is not None else None
    if args.timeout is not None and not 1 <= args.timeout <= 600:
        raise InputError("--timeout must be between 1 and 600 seconds.")

    from app.core.runner import Runner  # noqa: PLC0415

    with StopSignals() as stop:
        try:
            token = context.environment_token()
            request = _request(args, context, plan_id, user_id, token)
            history = context.history_or_none()
            retention = (
                None if args.gateway is not None else context.workspace.retention
            )
            # The history is written here, not by the runner, so that a signal
            # that arrives once the outcome is known cannot cut the write short.
            sender = Runner(context.redactor)
            recorder = Runner(context.redactor, history=history, retention=retention)
            facts = _token_warning(request.token)
            if facts:
                warn(facts)
            for problem in _ignored_proxy_settings(request):
                warn(f"A proxy setting is ignored: {problem}.")
        except Stopped as stopped:
            return fail(f"{stopped.words}; nothing was sent.", stopped.exit_code)
        try:
            outcome = sender.run(request).outcome
        except Stopped as stopped:
            # Between the send and its outcome: whether the request left is
            # not known, so the run is kept as one that may have been queued.
            outcome = _stopped_outcome(sender, request, stopped)
        stop.hold()
        if stop.received is not None:
            warn(f"{stop.received.words} while waiting for the answer.")
        _record(recorder, history, outcome, request)
        _print(outcome, args.json, context.redactor)
    return EXIT_CODES[outcome.category]


def _record(recorder: Any, history: Any, outcome: Outcome, request: Any) -> None:
    """Record the outcome; say so on stderr when it could not be kept."""
    if history is None:
        return
    try:
        history.record(
            outcome, plan_name=request.plan_name, user_name=request.user_name
        )
    except HistoryError as error:
        warn(
            f"{error} The outcome below is not in the history; keep it if you "
            "need a record of this run."
        )
        return
    problem = recorder.apply_retention()
    if problem:
        warn(problem)


def _stopped_outcome(sender: Any, request: Any, stopped: Stopped) -> Outcome:
    from app.core.outcome import local_outcome  # noqa: PLC0415

    return local_outcome(
        sender.context(request),
        Category.UNKNOWN,
        f"{stopped.words} while sending: the plan may have been queued",
        f"Check the test system for plan {request.plan_id} before running it "
        "again: running it again now could queue it twice.",
        f"{stopped.words} while the request was being sent or its answer read; "
        "it was not sent again.",
    )


class Stopped(KeyboardInterrupt):
    """A stop signal, raised where Ctrl+C would raise KeyboardInterrupt.

    Being a KeyboardInterrupt, it is caught wherever Ctrl+C is: while the
    answer is awaited that makes the run end ``unknown``.

    Attributes:
        signum: The signal's number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def words(self) -> str:
        """Return what happened, for a person: ``Stopped by SIGTERM``."""
        name = signal.Signals(self.signum).name
        return "Interrupted (Ctrl+C)" if name == "SIGINT" else f"Stopped by {name}"

    @property
    def exit_code(self) -> int:
        """Return the shell's code for a command ended by this signal."""
        return 128 + self.signum


class StopSignals:
    """Turns SIGINT, SIGTERM and SIGHUP into :class:`Stopped` while in use.

    :meth:`hold` ends that: afterwards a signal is only noted in
    :attr:`received`, and the command finishes what it is doing. A signal that
    the command was started with ignored (``nohup``) stays ignored. The
    previous handlers come back on exit.

    Attributes:
        received: The first signal that arrived, or None.
    """

    def __init__(self) -> None:
        self.received: Stopped | None = None
        self._holding = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self  # only the main thread may set handlers
        for number in watched_quit_signals():
            self._previous[number] = signal.signal(number, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def hold(self) -> None:
        """From now on, note signals instead of raising."""
        self._holding = True

    def _on_signal(self, signum: int, frame: object) -> None:
        stopped = Stopped(signum)
        if self.received is None:
            self.received = stopped
        if not self._holding:
            raise stopped


def _request(
    args: argparse.Namespace,
    context: CliContext,
    plan_id: int,
    user_id: int | None,
    token: str | None,
) -> Any:
    from app.core.exchange import ClientSettings  # noqa: PLC0415
    from app.core.runner import RunRequest  # noqa: PLC0415
    from app.core.urls import parse_gateway_url  # noqa: PLC0415

    if args.gateway is not None:
        gateway = parse_gateway_url(args.gateway)
        if token is None:
            raise SetupError(
                "With --gateway the token comes from the PLAN_RUNNER_TOKEN environment "
                "variable, which is not set. Or use --profile."
            )
        if user_id is None:
            raise InputError("With --gateway, --user is required.")
        return RunRequest(
            plan_id=plan_id,
            user_id=user_id,
            gateway=gateway,
            token=token,
            profile=None,
            client=ClientSettings(read_timeout=args.timeout or 30.0),
            allow_plain_http=args.allow_plain_http,
        )
    workspace = context.workspace
    name = args.profile or _default_profile(workspace)
    profile = workspace.profile(name)
    if user_id is None:
        if profile.default_user is None:
            raise InputError(
                f"Give --user: profile {name!r} has no default user (set one with "
                f"`plan-runner profile add {name} --gateway URL --default-user ID`)."
            )
        user_id = profile.default_user
    return workspace.run_request(
        name, plan_id, user_id, token=token, read_timeout=args.timeout
    )


def _default_profile(workspace: Any) -> str:
    profiles = workspace.profiles()
    names = [p.name for p in profiles]
    if workspace.settings.last_profile in names:
        return str(workspace.settings.last_profile)
    if len(names) == 1:
        return str(names[0])
    if not names:
        raise SetupError(
            "No profile exists yet. Add one with "
            "`plan-runner profile add NAME --gateway URL`, or use --gateway."
        )
    raise InputError(f"Choose a profile with --profile ({', '.join(names)}).")


def _token_warning(token: str) -> str | None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from app.core.tokens import token_facts  # noqa: PLC0415

    if not token.startswith("eyJ"):
        return None
    facts = token_facts(token)
    now = datetime.now(UTC)
    if facts.is_expired(now):
        return (
            f"the token {facts.expiry_words(now)}; the gateway will likely refuse it."
        )
    return None


def _ignored_proxy_settings(request: Any) -> tuple[str, ...]:
    """Say which proxy values the run leaves out, as it goes on without them."""
    from app.core.exchange import for_gateway  # noqa: PLC0415
    from app.core.http import proxy_routes  # noqa: PLC0415 - imports httpx

    return proxy_routes(for_gateway(request.client, request.gateway)).ignored


def _print(outcome: Outcome, as_json: bool, redactor: Redactor) -> None:
    if as_json:
        print_json(outcome.to_dict(), redactor)
        return
    status = (
        "no answer" if outcome.http_status is None else f"HTTP {outcome.http_status}"
    )
    parts = [status]
    if outcome.code is not None:
        parts.append(f"code {outcome.code}")
    if outcome.message:
        parts.append(f"“{one_line(outcome.message)}”")
    parts.append(f"{outcome.duration_ms} ms")
    print(f"{_LABELS[outcome.category]}: {outcome.title}")
    print(f"  {' · '.join(parts)}")
    print(f"  plan {outcome.plan_id}, user {outcome.user_id} at {outcome.gateway_url}")
    print(f"  Next: {outcome.advice}")
    sys.stdout.flush()
