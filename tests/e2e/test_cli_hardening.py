"""The command line against gateways and networks that misbehave on purpose."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

TOKEN = "hardening-token-0123456789"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("scenario", ["trickle", "endless"])
def test_a_slow_or_endless_answer_ends_at_the_timeout_as_unknown(
    cli, start_simulator, scenario
):
    sim = start_simulator("--token", TOKEN, "--scenario", scenario)
    started = time.monotonic()
    result = cli(
        "run",
        "--gateway",
        sim.url,
        "--plan",
        "681",
        "--user",
        "1",
        "--timeout",
        "3",
        token=TOKEN,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 7, result.stdout + result.stderr
    assert "may have been queued" in result.stdout
    assert elapsed < 10, f"the run took {elapsed:.1f} s with --timeout 3"


def peak_memory_of_run(cli, url: str) -> tuple[int, int]:
    """Run the CLI once; return its exit code and its peak RSS in KiB."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "run",
            "--gateway",
            url,
            "--plan",
            "681",
            "--user",
            "1",
        ],
        env={**cli.env, "PLAN_RUNNER_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss


def test_a_gzip_bomb_is_read_within_a_bounded_memory(cli, start_simulator):
    normal = start_simulator("--token", TOKEN)
    bomb = start_simulator("--token", TOKEN, "--scenario", "gzip_bomb")
    code, baseline = peak_memory_of_run(cli, normal.url)
    assert code == 0
    code, peak = peak_memory_of_run(cli, bomb.url)
    assert code == 5
    # The body inflates to 128 MB; only a bounded part of it may be held.
    assert peak - baseline < 32 * 1024, (
        f"{(peak - baseline) / 1024:.0f} MB more than a normal run"
    )


def test_a_gateway_on_this_machine_is_never_reached_through_a_proxy(
    cli, start_simulator
):
    sim = start_simulator("--token", TOKEN)
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    cli.env.update(HTTP_PROXY=dead_proxy, http_proxy=dead_proxy, ALL_PROXY=dead_proxy)
    result = cli(
        "run", "--gateway", sim.url, "--plan", "681", "--user", "1", token=TOKEN
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sim.stop().count("POST") == 1


def test_an_unreachable_proxy_is_named_as_the_cause(cli):
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    cli.env.update(HTTPS_PROXY=dead_proxy, https_proxy=dead_proxy)
    cli.env.pop("NO_PROXY", None)
    cli.env.pop("no_proxy", None)
    result = cli(
        "run",
        "--gateway",
        "https://gw.example.test",
        "--plan",
        "1",
        "--user",
        "1",
        "--timeout",
        "3",
        token=TOKEN,
    )
    assert result.returncode == 6, result.stdout + result.stderr
    assert f"through the proxy {dead_proxy}" in result.stdout


def test_ctrl_c_after_sending_records_the_run_as_unknown(cli, start_simulator):
    sim = start_simulator("--token", TOKEN, "--scenario", "hang")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "run",
            "--gateway",
            sim.url,
            "--plan",
            "681",
            "--user",
            "1",
        ],
        env={**cli.env, "PLAN_RUNNER_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 7, stdout + stderr
    assert "may have been queued" in stdout
    history = json.loads(cli("history", "--json").stdout)
    assert [row["outcome"] for row in history] == ["unknown"]
