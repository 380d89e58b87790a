"""``plan-runner run`` through misbehaving proxies and gateways on loopback.

A gateway on loopback is never reached through a proxy, so runs that must go
through one name ``gw.example.invalid``, which the proxy receives unresolved.
"""

import json

import pytest
from wire_servers import proxy_407, stalled_server, trickling_gateway

TOKEN = "abcdefghijklmnopqrstuvwx"
RUN = ("run", "--plan", "1", "--user", "2")


@pytest.fixture
def cli_without_proxies(cli):
    for name in list(cli.env):
        if name.lower().endswith("_proxy"):
            del cli.env[name]
    return cli


def test_a_proxy_that_never_answers_connect_exits_6_nothing_sent(cli_without_proxies):
    cli = cli_without_proxies
    with stalled_server() as proxy:
        cli.env["HTTPS_PROXY"] = proxy.url
        result = cli(
            *RUN,
            "--gateway",
            "https://gw.example.invalid/api",
            "--timeout",
            "2",
            "--json",
            token=TOKEN,
        )
        heads = list(proxy.heads)
    assert result.returncode == 6, result.stdout + result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["outcome"] == "network"
    assert outcome["may_be_queued"] == "no"
    assert "Nothing was sent" in outcome["advice"]
    assert [head.split(b" ", 1)[0] for head in heads] == [b"CONNECT"]


@pytest.mark.parametrize(
    ("variable", "gateway", "extra"),
    [
        ("HTTP_PROXY", "http://gw.example.invalid:18080/ok", ["--allow-plain-http"]),
        ("HTTPS_PROXY", "https://gw.example.invalid/ok", []),
    ],
)
def test_a_proxy_asking_for_a_sign_in_exits_6_naming_the_proxy(
    cli_without_proxies, variable, gateway, extra
):
    cli = cli_without_proxies
    with proxy_407() as proxy:
        cli.env[variable] = f"http://alice:pw-Secret9@127.0.0.1:{proxy.port}"
        result = cli(*RUN, "--gateway", gateway, *extra, token=TOKEN)
    assert result.returncode == 6, result.stdout + result.stderr
    assert (
        f"The proxy http://alice:***@127.0.0.1:{proxy.port} asks for a sign-in "
        "(HTTP 407)" in result.stdout
    )
    assert "user name and password" in result.stdout
    assert "pw-Secret9" not in result.stdout + result.stderr


def test_no_proxy_entries_the_client_cannot_honour_are_warned_about(
    cli_without_proxies,
):
    cli = cli_without_proxies
    with proxy_407() as proxy:
        cli.env["HTTP_PROXY"] = proxy.url
        cli.env["NO_PROXY"] = "*.example.invalid,10.0.0.0/8"
        result = cli(
            *RUN,
            "--gateway",
            "http://gw.example.invalid:18080/ok",
            "--allow-plain-http",
            token=TOKEN,
        )
    assert result.returncode == 6, result.stdout + result.stderr
    assert "'*.example.invalid' matches nothing" in result.stderr
    assert "'10.0.0.0/8' matches only the address 10.0.0.0" in result.stderr


def test_a_gateway_name_with_the_root_dot_obeys_no_proxy(cli_without_proxies):
    cli = cli_without_proxies
    with proxy_407() as proxy:
        cli.env["HTTP_PROXY"] = proxy.url
        cli.env["NO_PROXY"] = "gw.example.invalid"
        result = cli(
            *RUN,
            "--gateway",
            "http://gw.example.invalid.:18080/ok",
            "--allow-plain-http",
            token=TOKEN,
        )
        heads = list(proxy.heads)
    # Direct, so the .invalid name is looked up and not found.
    assert result.returncode == 6, result.stdout + result.stderr
    assert "Cannot find the gateway host" in result.stdout
    assert heads == []


@pytest.mark.parametrize("part", ["head", "body"])
def test_a_trickling_gateway_ends_the_timeout_after_sending(cli_without_proxies, part):
    with trickling_gateway(part, every=0.1) as gateway:
        result = cli_without_proxies(
            *RUN, "--gateway", gateway.url, "--timeout", "2", "--json", token=TOKEN
        )
    assert result.returncode == 7, result.stdout + result.stderr
    outcome = json.loads(result.stdout)
    assert 1900 <= outcome["duration_ms"] < 2800
    if part == "head":
        assert outcome["title"].startswith("No answer within 2 s:")


def test_plain_http_with_gateway_names_the_command_line_option(cli_without_proxies):
    result = cli_without_proxies(
        *RUN, "--gateway", "http://gw.example.invalid:18080", token=TOKEN
    )
    assert result.returncode == 8
    assert "--allow-plain-http" in result.stderr
    assert "profile's settings" not in result.stderr
