"""A session with a known token through every command-line flow, then a scan of
every file the app wrote and everything it printed: the token appears nowhere."""

import base64
import urllib.parse
import zipfile

import pytest
from wire_servers import WireServer

TOKEN = "LeakCanary-7f3a9c1e5b2d4680-Token_value.xyz"


def token_forms(token: str) -> list[str]:
    raw = token.encode()
    forms = {token, urllib.parse.quote(token, safe="")}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        forms.update({encoded, encoded.rstrip("=")})
    return sorted(forms)


def scan(blobs: dict[str, bytes]) -> list[str]:
    hits = []
    for name, blob in blobs.items():
        for form in token_forms(TOKEN):
            if form.encode() in blob:
                hits.append(f"{name}: {form}")
    return hits


def files_under(folder) -> dict[str, bytes]:
    found = {}
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        found[str(path)] = path.read_bytes()
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as bundle:
                for member in bundle.namelist():
                    found[f"{path}!{member}"] = bundle.read(member)
    return found


@pytest.mark.parametrize("source", ["keyring", "environment"])
def test_no_command_line_flow_leaks_the_token(
    cli, profile_name, start_simulator, tmp_path, source
):
    outputs: dict[str, bytes] = {}

    def run(name, *args, stdin=None, token=None):
        result = cli(*args, stdin=stdin, token=token)
        outputs[f"{name} stdout"] = result.stdout.encode()
        outputs[f"{name} stderr"] = result.stderr.encode()
        assert "Traceback" not in result.stderr, (name, result.stderr)
        return result

    good = start_simulator("--token", TOKEN)
    run(
        "profile add",
        "profile",
        "add",
        profile_name,
        "--gateway",
        good.url,
        "--default-user",
        "1",
    )
    run(
        "token set",
        "token",
        "set",
        "--profile",
        profile_name,
        stdin=f"  Bearer {TOKEN}\r\n",
    )
    env_token = TOKEN if source == "environment" else None

    for scenario in (
        "normal",
        "empty401",
        "html502",
        "drop",
        "redirect",
        "ratelimit",
        "oauth401",
        "echo_token",
    ):
        sim = start_simulator("--token", TOKEN, "--scenario", scenario)
        run(
            f"run {scenario}",
            "run",
            "--gateway",
            sim.url,
            "--plan",
            "681",
            "--user",
            "1",
            "--json",
            token=TOKEN,
        )
    run(
        "run profile",
        "run",
        "--plan",
        "681",
        "--profile",
        profile_name,
        token=env_token,
    )
    run(
        "run unknown plan",
        "run",
        "--plan",
        "5",
        "--profile",
        profile_name,
        token=env_token,
    )
    run(
        "run -v",
        "-v",
        "run",
        "--plan",
        "681",
        "--profile",
        profile_name,
        token=env_token,
    )
    run("profile list", "profile", "list", "--json")
    run("history", "history", "--json")
    run("history csv", "history", "--csv")
    run("status", "status", "--profile", profile_name, "--json", token=env_token)
    run(
        "diagnose",
        "diagnose",
        "--profile",
        profile_name,
        "--output",
        str(tmp_path / "bundle.zip"),
        token=env_token,
    )

    written = files_under(cli.home)
    written.update(files_under(tmp_path))
    assert any(name.endswith("history.sqlite3") for name in written)
    assert any(".zip!" in name for name in written), (
        "the diagnostic bundle was not written"
    )
    assert scan(written) == []
    assert scan(outputs) == []


def test_what_a_gateway_says_to_the_doctor_is_printed_without_the_token(cli):
    # The doctor's GET carries no token, but the answer is the gateway's to
    # write: a debug page may well show the token the client was configured with.
    def respond(connection, head):
        body = f"debug page: configured token {TOKEN} (base64 {token_forms(TOKEN)[1]})"
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
        )

    with WireServer(respond) as gateway:
        outputs = {}
        for mode in ("--json", "-v"):
            args = ["diagnose", "--gateway", gateway.url]
            args = [*args, "--json"] if mode == "--json" else ["-v", *args]
            result = cli(*args, token=TOKEN)
            outputs[f"{mode} stdout"] = result.stdout.encode()
            outputs[f"{mode} stderr"] = result.stderr.encode()

    assert b"debug page: configured token [REDACTED]" in outputs["--json stdout"]
    assert scan(outputs) == []
