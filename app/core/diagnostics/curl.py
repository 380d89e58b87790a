"""Copy as curl: a run as a POSIX shell command, with the token as a placeholder."""

from __future__ import annotations

import json
import shlex
from typing import Protocol

from app.core.errors import InputError
from app.core.exchange import authorization_header
from app.core.runner import RunRequest


class QueueCall(Protocol):
    """What a run asked for: an outcome or a history row."""

    @property
    def gateway_url(self) -> str:
        """The queue URL the run went to."""
        ...

    @property
    def plan_id(self) -> int:
        """The plan."""
        ...

    @property
    def user_id(self) -> int:
        """The user."""
        ...


TOKEN_PLACEHOLDER = '"Authorization: Bearer $TOKEN"'  # noqa: S105 - shell text


def curl_command(source: QueueCall | RunRequest, *, token: str | None = None) -> str:
    """Return a POSIX shell command that repeats a run with curl.

    The token is a ``$TOKEN`` placeholder unless ``token`` is given: inserting
    the real token is a separate action the person confirms. Every argument is
    quoted for POSIX shells (bash, zsh, Git Bash); IDs are exact integers.

    Raises:
        InputError: An ID is not a valid ID, or the URL is not http(s).
    """
    if isinstance(source, RunRequest):
        url = source.gateway.queue_url
    else:
        url = source.gateway_url
    return curl_for(url, source.plan_id, source.user_id, token=token)


def curl_for(
    queue_url: str, plan_id: int, user_id: int, *, token: str | None = None
) -> str:
    """Return the curl command of a run to ``queue_url``; see :func:`curl_command`."""
    for what, value in (("plan", plan_id), ("user", user_id)):
        if type(value) is not int or not 1 <= value <= 2**63 - 1:
            raise InputError(f"The {what} ID {value!r} is not a valid ID.")
    if not queue_url.lower().startswith(("http://", "https://")):
        raise InputError("Only an http:// or https:// URL can be copied as curl.")
    body = json.dumps({"planId": plan_id, "userId": user_id})
    if token is None:
        authorization = TOKEN_PLACEHOLDER
    else:
        credentials = authorization_header(token)["Authorization"]
        authorization = shlex.quote(f"Authorization: {credentials}")
    return " ".join(
        [
            "curl",
            "--request",
            "POST",
            shlex.quote(queue_url),
            "--header",
            shlex.quote("Content-Type: application/json"),
            "--header",
            authorization,
            "--data",
            shlex.quote(body),
        ]
    )
