"""Diagnostics: status facts, proxies, the doctor and the redacted bundle."""

import base64
import json
import logging
import select
import socket
import socketserver
import ssl
import threading
import time
import urllib.parse
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
import trustme
from wire_servers import trickling_gateway

from app.core.diagnostics import (
    BundleManifest,
    Verdict,
    bundle_preview,
    doctor_exit_code,
    effective_proxy,
    format_doctor,
    format_status,
    mask_proxy_url,
    parse_certificate,
    proxy_source,
    run_doctor,
    status_report,
    write_bundle,
)
from app.core.exchange import ClientSettings
from app.core.history import HistoryStore
from app.core.logs import setup_logging
from app.core.outcome import Category, Outcome
from app.core.paths import AppPaths
from app.core.redact import Redactor
from app.core.runner import Runner
from app.core.secrets import SessionStore
from app.core.settings import Policy, Profile
from app.core.urls import parse_gateway_url
from app.core.workspace import Workspace
from app.sim import Simulator

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = "k" * 32
# Not JWT-shaped, and holding '+', '/' and '=' so that its URL-encoded form differs.
TOKEN = "s3cr3t+Tok/en_Value-0123456789=="


def mint(**claims):
    defaults = {
        "iss": "https://login.example.test",
        "sub": "qa-anna",
        "aud": "https://gw.example.test",
        "iat": int((NOW - timedelta(hours=4)).timestamp()),
    }
    return jwt.encode({**defaults, **claims}, KEY, algorithm="HS256")


@pytest.fixture
def paths(tmp_path):
    return AppPaths.from_environment(
        {
            "PLAN_RUNNER_HOME": str(tmp_path / "home"),
            "PLAN_RUNNER_POLICY": str(tmp_path / "home" / "policy.json"),
        }
    )


@pytest.fixture
def workspace(paths, keyring_store, redactor):
    return Workspace.open(paths, redactor, keyring_store)


def add(workspace, name="stage", url="https://gw.example.test/api", token=TOKEN, **kw):
    workspace.save_profile(Profile(name=name, **kw), gateway_url=url, token=token)


def problems(report, severity=None):
    return [
        p["message"]
        for p in report["problems"]
        if severity is None or p["severity"] == severity
    ]


# Token facts as status shows them -----------------------------------------


def test_an_expired_jwt_is_a_token_problem_in_words(workspace):
    token = mint(exp=int((NOW - timedelta(hours=3)).timestamp()))
    add(workspace, token=token)

    report = status_report(workspace, "stage", NOW)

    facts = report["token"]
    assert facts["is_jwt"] is True
    assert facts["stored"] is True
    assert facts["source"] == facts["backend"]  # the keyring it is stored in
    assert facts["length"] == len(token)
    assert facts["fingerprint"].startswith("sha256:")
    assert facts["issuer"] == "https://login.example.test"
    assert facts["subject"] == "qa-anna"
    assert facts["audience"] == "https://gw.example.test"
    assert facts["issued"] == "issued 4 h ago"
    assert facts["expiry"] == "expired 3 h ago"
    assert facts["expired"] is True
    assert report["exit_code"] == 3
    assert report["verdict"] == "token problem"
    assert any("expired 3 h ago" in m for m in problems(report, "error"))
    text = format_status(report)
    assert "expired 3 h ago (2026-03-01 09:00 UTC)" in text
    assert token not in json.dumps(report) + text


def test_a_valid_jwt_says_when_it_expires_and_passes(workspace):
    token = mint(exp=int((NOW + timedelta(minutes=12)).timestamp()))
    add(workspace, token=token)

    report = status_report(workspace, "stage", NOW)

    assert report["token"]["expiry"] == "expires in 12 min"
    assert report["token"]["expired"] is False
    assert report["problems"] == []
    assert report["verdict"] == "ok"
    assert report["exit_code"] == 0
    assert report["gateway"]["queue_url"] == "https://gw.example.test/api/queue"
    assert "expires in 12 min" in format_status(report)


def test_a_jwt_about_to_expire_is_a_warning_not_a_failure(workspace):
    add(workspace, token=mint(exp=int((NOW + timedelta(minutes=4)).timestamp())))
    report = status_report(workspace, "stage", NOW)
    assert report["exit_code"] == 0
    assert report["verdict"] == "ok, with warnings"
    assert problems(report, "warning") == [
        "The token of profile 'stage' expires in 4 min."
    ]


def test_a_non_jwt_token_has_unknown_expiry_and_no_problem(workspace):
    add(workspace)
    report = status_report(workspace, "stage", NOW)
    assert report["token"]["is_jwt"] is False
    assert report["token"]["expiry"] == "expiry unknown (not a JWT)"
    assert report["token"]["length"] == len(TOKEN)
    assert report["exit_code"] == 0
    assert TOKEN not in json.dumps(report) + format_status(report)


def test_a_malformed_jwt_is_reported_as_unreadable(workspace):
    header, payload, signature = mint(exp=2_000_000_000).split(".")
    broken = f"{header}.{payload[:9]}.{signature}"
    add(workspace, token=broken)

    report = status_report(workspace, "stage", NOW)

    assert report["token"]["is_jwt"] is False
    assert "cannot be read" in report["token"]["problem"]
    assert report["exit_code"] == 3
    assert any("cut off" in m for m in problems(report, "error"))
    assert broken not in json.dumps(report)


def test_a_mangled_stored_token_is_named_by_position_not_shown(
    workspace, memory_keyring
):
    add(workspace)
    mangled = "abc def-ghijkl"
    memory_keyring.entries[("plan-runner", "stage")] = json.dumps(
        {"gateway_url": "https://gw.example.test", "token": mangled}
    )
    report = status_report(workspace, "stage", NOW)
    [message] = problems(report, "error")
    assert "a space (at position 4 of 14)" in message
    assert mangled not in json.dumps(report)
    assert report["exit_code"] == 3


def test_a_pasted_bearer_prefix_in_the_keyring_is_a_token_problem(
    workspace, memory_keyring
):
    add(workspace)
    memory_keyring.entries[("plan-runner", "stage")] = json.dumps(
        {"gateway_url": "https://gw.example.test", "token": f"Bearer {TOKEN}"}
    )
    report = status_report(workspace, "stage", NOW)
    assert any("'Bearer' prefix" in m for m in problems(report, "error"))
    assert report["exit_code"] == 3


def test_a_missing_token_is_a_token_problem(workspace):
    workspace.save_profile(Profile(name="stage"), gateway_url="https://gw.example.test")
    report = status_report(workspace, "stage", NOW)
    assert report["token"]["stored"] is False
    assert problems(report, "error") == ["No token is stored for profile 'stage'."]
    assert report["exit_code"] == 3


def test_a_token_for_another_environment_is_a_warning(workspace):
    add(workspace, url="https://gw-prod.example.test", token=mint(exp=2_000_000_000))
    report = status_report(workspace, "stage", NOW)
    [warning] = problems(report, "warning")
    assert "gw.example.test" in warning
    assert "gw-prod.example.test" in warning
    assert report["exit_code"] == 0


def test_the_environment_token_overrides_the_stored_one(workspace):
    add(workspace)
    override = mint(exp=int((NOW + timedelta(hours=2)).timestamp()))
    report = status_report(workspace, "stage", NOW, environment_token=override)
    assert "PLAN_RUNNER_TOKEN" in report["token"]["source"]
    assert report["token"]["stored"] is True
    assert report["token"]["expiry"] == "expires in 2 h"


@pytest.mark.parametrize("name", [None, "nope"])
def test_no_profile_is_a_setup_problem(workspace, name):
    add(workspace, name="a")
    add(workspace, name="b")
    report = status_report(workspace, name, NOW)
    assert report["exit_code"] == 8
    assert report["verdict"] == "setup problem"
    assert report["gateway"] is None


def test_no_keyring_is_a_setup_problem(paths, redactor):
    store = SessionStore(redactor, "No keyring is available: start a Secret Service.")
    workspace = Workspace.open(paths, redactor, store)
    add(workspace)
    report = status_report(workspace, "stage", NOW)
    assert report["keyring"]["persistent"] is False
    assert any("session only" in m for m in problems(report, "error"))
    assert report["exit_code"] == 8


def test_a_bad_gateway_url_in_the_keyring_is_a_setup_problem(workspace, memory_keyring):
    add(workspace)
    memory_keyring.entries[("plan-runner", "stage")] = json.dumps(
        {"gateway_url": "gw.example.test", "token": TOKEN}
    )
    report = status_report(workspace, "stage", NOW)
    assert report["gateway"]["problem"]
    assert report["exit_code"] == 8
    assert report["proxy"]["source"] == "unknown"


def test_plain_http_to_another_machine_is_a_setup_problem(workspace):
    add(workspace, url="http://gw.example.test")
    assert status_report(workspace, "stage", NOW)["exit_code"] == 8
    add(workspace, name="lab", url="http://gw.example.test", allow_plain_http=True)
    assert status_report(workspace, "lab", NOW)["exit_code"] == 0
    add(workspace, name="local", url="http://127.0.0.1:8080")
    assert status_report(workspace, "local", NOW)["exit_code"] == 0


def test_tls_trust_names_the_extra_ca_file_and_whether_it_is_readable(
    workspace, tmp_path, test_ca
):
    missing = tmp_path / "missing.pem"
    add(workspace, extra_ca_file=str(missing))
    report = status_report(workspace, "stage", NOW)
    assert report["tls"]["mode"] == "OS trust store + extra CA file"
    assert report["tls"]["extra_ca_file"] == str(missing)
    assert report["tls"]["extra_ca_readable"] is False
    assert report["tls"]["extra_ca_source"] == "the setting of profile 'stage'"
    assert report["exit_code"] == 8

    good = tmp_path / "company-ca.pem"
    test_ca.cert_pem.write_to_path(str(good))
    add(workspace, extra_ca_file=str(good))
    report = status_report(workspace, "stage", NOW)
    assert report["tls"]["extra_ca_readable"] is True
    assert report["tls"]["problem"] is None
    assert report["exit_code"] == 0
    assert f"{good} (readable" in format_status(report)


# Proxies --------------------------------------------------------------------

HTTPS = parse_gateway_url("https://gw.example.test/api")


def test_https_proxy_from_the_environment_applies_with_its_password_hidden():
    facts = effective_proxy(
        HTTPS,
        ClientSettings(),
        environ={"HTTPS_PROXY": "http://anna:pa55w0rd@proxy.corp.test:3128"},
    )
    assert facts.url == "http://anna:***@proxy.corp.test:3128"
    assert facts.source == "the environment variable HTTPS_PROXY"
    assert "pa55w0rd" not in json.dumps(facts.as_dict())
    assert facts.proxy_url == "http://anna:pa55w0rd@proxy.corp.test:3128"


def test_the_lower_case_variable_wins_as_in_urllib():
    facts = effective_proxy(
        HTTPS,
        ClientSettings(),
        environ={"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"},
    )
    assert facts.url == "http://lower:2"
    assert facts.source == "the environment variable https_proxy"


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [
        ("example.test", True),
        (".example.test", True),
        ("gw.example.test", True),
        ("other.test, gw.example.test", True),
        ("*", True),
        ("xample.test", False),
        ("gw.example.test:8443", False),
        ("", False),
    ],
)
def test_no_proxy_is_honoured(no_proxy, bypassed):
    facts = effective_proxy(
        HTTPS,
        ClientSettings(),
        environ={"HTTPS_PROXY": "http://proxy.corp.test:3128", "NO_PROXY": no_proxy},
    )
    if bypassed:
        assert facts.url is None
        assert "NO_PROXY" in facts.detail
        assert "proxy.corp.test" in facts.detail
    else:
        assert facts.url == "http://proxy.corp.test:3128"


def test_no_proxy_entries_that_cannot_work_are_reported():
    facts = effective_proxy(
        HTTPS,
        ClientSettings(),
        environ={
            "HTTPS_PROXY": "http://proxy.corp.test:3128",
            "NO_PROXY": "10.0.0.0/8,*.example.test,[[[,,,",
        },
    )
    assert facts.url == "http://proxy.corp.test:3128"
    notes = " | ".join(facts.ignored)
    assert "'10.0.0.0/8': address ranges are not understood" in notes
    assert "'*.example.test': wildcards are not understood" in notes
    assert "'[[[' is not a host name" in notes


@pytest.mark.parametrize("value", ["::bad::", "http://[::1", "http://h:notaport"])
def test_a_malformed_proxy_variable_is_reported_as_ignored(value):
    facts = effective_proxy(HTTPS, ClientSettings(), environ={"HTTPS_PROXY": value})
    assert facts.url is None
    assert facts.problem is None
    assert len(facts.ignored) == 1
    assert facts.ignored[0].startswith("HTTPS_PROXY=")
    assert "ignored" in facts.detail


def test_a_proxy_for_the_other_scheme_is_explained():
    facts = effective_proxy(
        HTTPS, ClientSettings(), environ={"HTTP_PROXY": "http://proxy:3128"}
    )
    assert facts.url is None
    assert "HTTP_PROXY is set, but only HTTPS_PROXY or ALL_PROXY" in facts.detail


def test_an_explicit_proxy_wins_and_names_its_source(workspace):
    add(workspace, proxy="http://u:hunter22@profile-proxy:8080")
    profile = workspace.profile("stage")
    report = status_report(
        workspace, "stage", NOW, environ={"HTTPS_PROXY": "http://env:1"}
    )
    assert report["proxy"]["url"] == "http://u:***@profile-proxy:8080"
    assert report["proxy"]["source"] == "the setting of profile 'stage'"
    assert "hunter22" not in json.dumps(report)
    assert profile.proxy is not None


def test_a_locked_policy_proxy_is_named_as_the_source(paths, keyring_store, redactor):
    paths.policy_file.parent.mkdir(parents=True, exist_ok=True)
    paths.policy_file.write_text(
        Policy(proxy="http://policy-proxy:3128", locked=["proxy"]).model_dump_json()
    )
    workspace = Workspace.open(paths, redactor, keyring_store)
    add(workspace, proxy="http://mine:1")
    report = status_report(workspace, "stage", NOW, environ={})
    assert report["proxy"]["url"] == "http://policy-proxy:3128"
    assert report["proxy"]["source"] == "the machine policy (locked by IT)"


def test_an_unusable_profile_proxy_is_a_setup_problem(workspace):
    add(workspace, proxy="socks9://proxy:1")
    report = status_report(workspace, "stage", NOW, environ={})
    assert report["proxy"]["problem"]
    assert report["exit_code"] == 8


def test_proxy_passwords_are_masked():
    assert mask_proxy_url("http://a:b@h:1") == "http://a:***@h:1"
    assert mask_proxy_url("a:b@h:1") == "a:***@h:1"
    assert mask_proxy_url("http://h:1") == "http://h:1"


# Certificates -----------------------------------------------------------------


def test_a_certificate_is_read_as_the_ssl_module_reads_it(tmp_path):
    ca = trustme.CA(organization_name="Corp Inspection CA")
    leaf = ca.issue_cert(
        "gw.example.test",
        "127.0.0.1",
        common_name="gw.example.test",
        organization_name="Zürich Tests",
        not_after=datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC),
    )
    pem = leaf.cert_chain_pems[0].bytes().decode()
    facts = parse_certificate(ssl.PEM_cert_to_DER_cert(pem))
    path = tmp_path / "leaf.pem"
    path.write_text(pem)
    decoded = ssl._ssl._test_decode_cert(str(path))
    short = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
    }
    for ours, theirs in (
        (facts.subject, decoded["subject"]),
        (facts.issuer, decoded["issuer"]),
    ):
        assert ours == tuple(
            (short[key], value) for rdn in theirs for key, value in rdn
        )
    assert facts.alt_names == tuple(
        f"{'IP' if kind == 'IP Address' else kind}:{value}"
        for kind, value in decoded["subjectAltName"]
    )
    assert dict(facts.subject)["O"] == "Zürich Tests"
    assert dict(facts.issuer)["O"] == "Corp Inspection CA"
    assert facts.issuer_name == "Corp Inspection CA"
    assert facts.subject_name == "gw.example.test"
    assert facts.alt_names == ("DNS:gw.example.test", "IP:127.0.0.1")
    assert facts.not_after == datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert decoded["notAfter"] == "May  6 07:08:09 2031 GMT"
    assert not facts.self_signed
    assert facts.validity_words(NOW) == "valid until 2031-05-06"


def test_garbage_is_not_a_certificate():
    with pytest.raises(ValueError, match="not a readable certificate"):
        parse_certificate(b"\x30\x82\x10\x00nope")


# The doctor -----------------------------------------------------------------


@pytest.fixture(scope="module")
def test_ca():
    return trustme.CA(organization_name="Corp Inspection CA")


@pytest.fixture
def tls_gateway(test_ca):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    test_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with Simulator(ssl_context=context) as sim:
        yield sim


# Proxies apply only to a gateway on another machine, so the doctor's proxy tests
# need a gateway whose name is not a loopback name. This one is known to this test
# process alone, which resolves it to the loopback where the simulator listens: the
# doctor and the test proxy (a thread of this process) find it, nothing else does.
GATEWAY_NAME = "gw.doctor.test"


@pytest.fixture
def gateway_name(monkeypatch):
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower() == GATEWAY_NAME:
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return GATEWAY_NAME


def by_name(sim):
    """Return the simulator's URL with the test-only gateway name as its host."""
    return sim.url.replace("//127.0.0.1:", f"//{GATEWAY_NAME}:", 1)


@pytest.fixture
def named_tls_gateway(test_ca, gateway_name):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    test_ca.issue_cert(gateway_name).configure_cert(context)
    with Simulator(ssl_context=context) as sim:
        yield sim


@pytest.fixture
def ca_file(test_ca, tmp_path):
    path = tmp_path / "company-ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def verdicts(steps):
    return {step.name: step.verdict for step in steps}


def test_an_inspecting_ca_is_named_with_the_remedy(tls_gateway, no_proxy_env):
    steps = run_doctor(
        tls_gateway.url, ClientSettings(), timeout=3, redactor=Redactor()
    )

    assert verdicts(steps) == {
        "DNS": Verdict.OK,
        "Proxy": Verdict.OK,
        "TCP connect": Verdict.OK,
        "TLS handshake": Verdict.FAILED,
        "HTTP": Verdict.SKIPPED,
    }
    tls = steps[3]
    assert "issued by 'Corp Inspection CA', not by a public CA" in tls.detail
    assert "your company inspects TLS" in tls.detail
    assert "install the company's CA certificate" in tls.remedy
    assert "extra CA file" in tls.remedy
    certificate = tls.facts["certificate"]
    assert certificate["alt_names"] == ["IP:127.0.0.1", "DNS:localhost"]
    assert "O=Corp Inspection CA" in certificate["issuer"]
    assert steps[4].detail == "Skipped: the TLS handshake step failed."
    assert doctor_exit_code(steps) == 6
    assert tls_gateway.requests == []  # nothing was sent over the untrusted link


def test_with_the_extra_ca_tls_passes_and_http_is_a_get_never_a_post(
    tls_gateway, ca_file, no_proxy_env
):
    steps = run_doctor(
        tls_gateway.url,
        ClientSettings(extra_ca_file=ca_file),
        timeout=3,
        redactor=Redactor(),
    )

    assert all(step.verdict is Verdict.OK for step in steps), format_doctor(steps, None)
    tls, http = steps[3], steps[4]
    assert f"plus the extra CA file {ca_file}" in tls.detail
    assert tls.facts["alt_names"] == ["IP:127.0.0.1", "DNS:localhost"]
    assert tls.facts["tls_version"].startswith("TLS")
    assert http.facts["status"] == 200
    assert "the gateway is reachable" in http.detail
    assert doctor_exit_code(steps) == 0
    requests = tls_gateway.requests
    assert [(r.method, r.path) for r in requests] == [("GET", "/")]
    assert "Authorization" not in requests[0].headers
    assert tls_gateway.queue_posts == []


def test_a_closed_port_fails_tcp_and_skips_the_rest(no_proxy_env):
    with Simulator() as sim:
        url = sim.url
    started = time.monotonic()
    steps = run_doctor(url, ClientSettings(), timeout=2, redactor=Redactor())
    assert time.monotonic() - started < 5
    assert verdicts(steps) == {
        "DNS": Verdict.OK,
        "Proxy": Verdict.OK,
        "TCP connect": Verdict.FAILED,
        "TLS handshake": Verdict.SKIPPED,
        "HTTP": Verdict.SKIPPED,
    }
    assert "refused the connection" in steps[2].detail
    assert "gateway is down" in steps[2].remedy
    assert steps[3].detail == "Skipped: the TCP connect step failed."
    assert doctor_exit_code(steps) == 6


def test_an_unresolvable_host_fails_dns_within_the_bound(no_proxy_env):
    started = time.monotonic()
    steps = run_doctor(
        "https://nonexistent.invalid/api",
        ClientSettings(),
        timeout=3,
        redactor=Redactor(),
    )
    assert time.monotonic() - started < 5
    assert steps[0].verdict is Verdict.FAILED
    assert "cannot find nonexistent.invalid" in steps[0].detail
    assert "typos" in steps[0].remedy
    assert [s.verdict for s in steps[1:]] == [Verdict.SKIPPED] * 4
    assert doctor_exit_code(steps) == 6


@pytest.mark.parametrize("value", ["::bad::", "http://h:notaport", "socks9://x:1"])
def test_a_malformed_https_proxy_variable_is_reported_not_fatal(
    named_tls_gateway, ca_file, no_proxy_env, monkeypatch, value
):
    monkeypatch.setenv("HTTPS_PROXY", value)
    monkeypatch.setenv("NO_PROXY", "[[[,,,")
    steps = run_doctor(
        by_name(named_tls_gateway),
        ClientSettings(extra_ca_file=ca_file),
        timeout=3,
        redactor=Redactor(),
    )
    proxy = steps[1]
    assert proxy.verdict is Verdict.WARNING
    assert "HTTPS_PROXY=" in proxy.detail
    assert "connects directly" in proxy.detail
    # As the app's client does, the malformed variables are ignored and it works.
    assert steps[4].verdict is Verdict.OK
    assert doctor_exit_code(steps) == 0


def test_a_plain_http_gateway_has_no_tls_step(simulator, no_proxy_env):
    steps = run_doctor(simulator.url, ClientSettings(), timeout=3, redactor=Redactor())
    assert steps[3].verdict is Verdict.SKIPPED
    assert "plain http://" in steps[3].detail
    assert steps[4].verdict is Verdict.OK
    assert simulator.queue_posts == []


def test_https_to_a_plain_http_server_says_it_does_not_speak_tls(
    simulator, no_proxy_env
):
    url = simulator.url.replace("http://", "https://")
    steps = run_doctor(url, ClientSettings(), timeout=3, redactor=Redactor())
    assert steps[3].verdict is Verdict.FAILED
    assert "does not speak TLS" in steps[3].detail


def test_a_wrong_path_prefix_is_a_warning(no_proxy_env):
    with Simulator(prefix="/api/v2") as sim:
        steps = run_doctor(
            sim.url.replace("/api/v2", "/wrong"), ClientSettings(), redactor=Redactor()
        )
    http = steps[4]
    assert http.verdict is Verdict.WARNING
    assert http.facts["status"] == 404
    assert "path prefix" in http.remedy
    assert doctor_exit_code(steps) == 0


def test_a_missing_extra_ca_file_is_a_setup_failure(tls_gateway, tmp_path):
    steps = run_doctor(
        tls_gateway.url,
        ClientSettings(extra_ca_file=tmp_path / "nope.pem"),
        timeout=3,
        redactor=Redactor(),
    )
    assert steps[3].verdict is Verdict.FAILED
    assert "nope.pem" in steps[3].detail
    assert steps[3].setup
    assert doctor_exit_code(steps) == 8


def test_an_unusable_explicit_proxy_is_a_setup_failure(simulator, gateway_name):
    steps = run_doctor(
        by_name(simulator),
        ClientSettings(proxy="http://h:notaport"),
        timeout=3,
        redactor=Redactor(),
    )
    assert steps[1].verdict is Verdict.FAILED
    assert steps[1].setup
    assert doctor_exit_code(steps) == 8


class _ConnectProxy(socketserver.ThreadingTCPServer):
    """A tiny http proxy that only knows CONNECT, for the doctor's tunnel."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, refuse=False):
        self.refuse = refuse
        self.targets = []
        self.received = []  # every chunk a client sent, tunnelled bytes included
        super().__init__(("127.0.0.1", 0), _ConnectHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class _ConnectHandler(socketserver.BaseRequestHandler):
    def handle(self):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        self.server.received.append(head)
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        self.server.targets.append((method, target))
        if method != "CONNECT" or self.server.refuse:
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)), timeout=5)
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        sockets = [self.request, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 5)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is self.request:
                        self.server.received.append(data)
                    (upstream if sock is self.request else self.request).sendall(data)
        finally:
            upstream.close()


def test_tls_is_checked_through_a_connect_proxy(
    named_tls_gateway, ca_file, no_proxy_env, monkeypatch
):
    with _ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        steps = run_doctor(
            by_name(named_tls_gateway),
            ClientSettings(extra_ca_file=ca_file),
            timeout=3,
            redactor=Redactor(),
        )
    assert [s.verdict for s in steps] == [Verdict.OK] * 5, format_doctor(steps, None)
    assert steps[1].detail == (
        f"Through the proxy {proxy.url}, from the environment variable HTTPS_PROXY."
    )
    assert f"the proxy 127.0.0.1:{proxy.server_address[1]}" in steps[2].detail
    target = f"{GATEWAY_NAME}:{named_tls_gateway.port}"
    assert proxy.targets == [("CONNECT", target)] * 2
    assert named_tls_gateway.queue_posts == []


def test_a_proxy_that_refuses_the_tunnel_is_named(
    named_tls_gateway, ca_file, no_proxy_env, monkeypatch
):
    with _ConnectProxy(refuse=True) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        steps = run_doctor(
            by_name(named_tls_gateway),
            ClientSettings(extra_ca_file=ca_file),
            timeout=3,
            redactor=Redactor(),
        )
    assert steps[3].verdict is Verdict.FAILED
    assert f"The proxy refused to connect to {GATEWAY_NAME}" in steps[3].detail
    assert "HTTP 403" in steps[3].detail
    assert "NO_PROXY" in steps[3].remedy


ON_THIS_MACHINE = (
    "No proxy: connects directly, because the gateway is on this machine (a proxy "
    "is never used for it)."
)


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("where", ["the environment", "the settings"])
def test_the_doctor_reaches_a_gateway_on_this_machine_directly_and_says_so(
    request, ca_file, no_proxy_env, monkeypatch, scheme, where
):
    gateway = request.getfixturevalue(
        "simulator" if scheme == "http" else "tls_gateway"
    )
    with _ConnectProxy() as proxy:
        settings = ClientSettings(extra_ca_file=ca_file)
        if where == "the environment":
            for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
                monkeypatch.setenv(name, proxy.url)
        else:
            settings = ClientSettings(extra_ca_file=ca_file, proxy=proxy.url)
        steps = run_doctor(gateway.url, settings, timeout=3, redactor=Redactor())

    assert verdicts(steps) == {
        "DNS": Verdict.OK,
        "Proxy": Verdict.OK,
        "TCP connect": Verdict.OK,
        "TLS handshake": Verdict.SKIPPED if scheme == "http" else Verdict.OK,
        "HTTP": Verdict.OK,
    }, format_doctor(steps, None)
    assert steps[1].detail == ON_THIS_MACHINE
    assert steps[1].facts["url"] is None
    assert steps[1].facts["source"] == "none (the gateway is on this machine)"
    assert steps[2].detail.startswith(f"Connected to 127.0.0.1:{gateway.port} ")
    assert ON_THIS_MACHINE in format_doctor(steps, parse_gateway_url(gateway.url))
    assert proxy.targets == []
    assert proxy.received == []
    assert [(r.method, r.path) for r in gateway.requests] == [("GET", "/")]


def test_doctor_status_and_runs_keep_a_loopback_token_away_from_the_proxy(
    workspace, no_proxy_env, monkeypatch, redactor
):
    with Simulator(tokens=[TOKEN]) as gateway, _ConnectProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        add(workspace, url=gateway.url, proxy=proxy.url)
        profile = workspace.profile("stage")
        # As `plan-runner diagnose` does: the doctor, then the status report.
        steps = run_doctor(
            workspace.gateway("stage"),
            workspace.client_settings(profile),
            timeout=3,
            proxy_source=proxy_source(workspace, profile),
            redactor=Redactor(),
        )
        report = status_report(workspace, "stage", NOW)
        result = Runner(redactor).run(workspace.run_request("stage", 681, 1))

    assert steps[1].detail == ON_THIS_MACHINE
    assert steps[4].verdict is Verdict.OK
    assert report["proxy"]["url"] is None
    assert result.outcome.category is not Category.NETWORK
    # The proxy saw nothing at all, so it never saw the token; the gateway did.
    assert proxy.targets == []
    assert TOKEN.encode() not in b"".join(proxy.received)
    assert proxy.received == []
    assert [post.token_ok for post in gateway.queue_posts] == [True]


# The bundle -----------------------------------------------------------------


def forms_of(secret):
    raw = secret.encode()
    found = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        found |= {encoded, encoded.rstrip("=")}
    return found


@pytest.fixture
def session(workspace, paths):
    """A profile with a known token, used: a log line and a history row hold it."""
    add(workspace, name="stage", token=TOKEN)
    add(
        workspace,
        name="prod",
        url="https://gw-prod.example.test",
        token="prod-" + TOKEN,
    )
    forms = sorted(forms_of(TOKEN))
    # A redactor that has never seen the token writes the log, so the line holds it.
    handlers = setup_logging(paths.log_file, Redactor())
    try:
        logging.getLogger("test.session").warning(
            "pasted by hand: %s | forms: %s", TOKEN, " ".join(forms)
        )
    finally:
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
            handler.close()
    rotated = paths.log_file.with_name(paths.log_file.name + ".1")
    rotated.write_text(f"older line with {base64.b64encode(TOKEN.encode()).decode()}\n")
    with HistoryStore.open(paths.history_file) as store:
        store.record(
            Outcome(
                category=Category.AUTH,
                title="The gateway refused the token",
                advice="Set a new token",
                support=f"echoed back: {TOKEN}",
                plan_id=681,
                user_id=1,
                profile="stage",
                gateway_url="https://gw.example.test/api/queue",
                http_status=401,
                code=1000,
                message=f"bad token {urllib.parse.quote(TOKEN, safe='')}",
                started_at=NOW,
                duration_ms=40,
                facts={"leak": TOKEN, "b64": base64.urlsafe_b64encode(TOKEN.encode())},
            )
        )
    return workspace


def test_a_bundle_holds_no_trace_of_the_token_in_any_form(session, paths, tmp_path):
    fresh = Redactor()  # learns the tokens from the keyring, not from earlier runs
    preview = bundle_preview(
        session, paths, fresh, now=NOW, profile_name="stage", extra_facts={"qt": "6.x"}
    )
    target = tmp_path / "out" / "bundle.zip"
    manifest = write_bundle(target, preview)

    with zipfile.ZipFile(target) as bundle:
        names = bundle.namelist()
        contents = {name: bundle.read(name).decode("utf-8") for name in names}
    assert contents == preview  # what was previewed is what was saved
    secrets = forms_of(TOKEN) | forms_of("prod-" + TOKEN)
    for name, text in contents.items():
        for form in secrets:
            assert form not in text, (name, form)
            assert form not in name
    raw = target.read_bytes()
    for form in secrets:
        assert form.encode() not in raw

    # The traces were there to be removed, and the redaction says so.
    assert "[REDACTED]" in contents["logs/plan-runner.log"]
    assert "pasted by hand: [REDACTED]" in contents["logs/plan-runner.log"]
    assert "older line with [REDACTED]" in contents["logs/plan-runner.log.1"]
    history = json.loads(contents["history.json"])
    assert history[0]["facts"]["leak"] == "[REDACTED]"
    assert history[0]["plan_id"] == 681
    stage_line = next(r for r in manifest.redactions if "profile 'stage'" in r)
    count = int(stage_line.split(": ", 1)[1].split(" ")[0])
    assert count >= 8  # 5 in the log line, 4 in the history row, 1 rotated
    assert "replaced by [REDACTED]" in stage_line


def test_the_manifest_lists_every_file_of_the_bundle(session, paths, tmp_path):
    steps = run_doctor(
        "https://nonexistent.invalid", ClientSettings(), timeout=2, redactor=Redactor()
    )
    preview = bundle_preview(
        session, paths, Redactor(), now=NOW, profile_name="stage", doctor_steps=steps
    )
    manifest = BundleManifest.from_dict(json.loads(preview["manifest.json"]))
    assert [f.name for f in manifest.files] == list(preview)
    assert {
        "summary.txt",
        "about.json",
        "profiles.json",
        "status.json",
        "doctor.json",
        "history.json",
        "logs/plan-runner.log",
        "logs/plan-runner.log.1",
        "manifest.json",
    } == set(preview)
    for item in manifest.files[:-1]:
        assert item.size == len(preview[item.name].encode())
    profiles = json.loads(preview["profiles.json"])["profiles"]
    assert {p["name"] for p in profiles} == {"stage", "prod"}
    assert all(p["token_stored"] for p in profiles)
    status = json.loads(preview["status.json"])
    assert status["stage"]["token"]["fingerprint"].startswith("sha256:")
    assert json.loads(preview["doctor.json"])[0]["verdict"] == "failed"
    about = json.loads(preview["about.json"])
    assert about["app_version"]
    assert about["os"]
    summary = preview["summary.txt"]
    assert "Profile      stage" in summary
    assert "[FAIL] DNS" in summary


def test_the_bundle_takes_the_last_rows_and_the_end_of_the_log(
    session, paths, redactor
):
    with HistoryStore.open(paths.history_file) as store:
        for plan in range(1, 61):
            store.record(
                Outcome(
                    category=Category.QUEUED,
                    title="queued",
                    advice="",
                    support="",
                    plan_id=plan,
                    user_id=1,
                    profile="stage",
                    gateway_url="https://gw.example.test/api/queue",
                    http_status=200,
                    code=0,
                    message="success",
                    started_at=NOW + timedelta(seconds=plan),
                    duration_ms=5,
                )
            )
    with paths.log_file.open("a") as log:
        for number in range(20_000):
            log.write(f"line {number:06d} of filler text for the tail\n")

    preview = bundle_preview(session, paths, redactor, now=NOW, log_bytes=100_000)

    rows = json.loads(preview["history.json"])
    assert len(rows) == 50
    assert rows[0]["plan_id"] == 60
    tail = preview["logs/plan-runner.log"]
    assert len(tail.encode()) <= 100_000
    assert tail.startswith("line ")  # cut at a whole line
    assert tail.endswith("line 019999 of filler text for the tail\n")
    assert "logs/plan-runner.log.1" not in preview  # the budget was spent


def test_a_preview_without_a_manifest_is_refused(tmp_path):
    from app.core.errors import InputError

    with pytest.raises(InputError):
        write_bundle(tmp_path / "x.zip", {"a.txt": "b"})
    assert not (tmp_path / "x.zip").exists()


def test_bundle_without_history_or_logs_says_so(workspace, paths, redactor):
    add(workspace)
    preview = bundle_preview(workspace, paths, redactor, now=NOW)
    notes = json.loads(preview["manifest.json"])["notes"]
    assert "There is no history file yet." in notes
    assert any("No log file" in n for n in notes)
    assert not Path(paths.history_file).exists()  # the bundle created none


def test_status_says_a_gateway_on_this_machine_is_reached_directly(workspace):
    add(workspace, url="http://127.0.0.1:8080", proxy="http://proxy.example.test:3128")
    environ = {"HTTP_PROXY": "http://proxy.example.test:3128"}
    report = status_report(workspace, "stage", NOW, environ=environ)
    assert report["proxy"]["url"] is None
    assert "directly" in report["proxy"]["detail"]


def test_a_bundle_says_why_the_doctor_was_not_run(paths, redactor, keyring_store):
    from app.core.secrets import UnavailableStore

    add(Workspace.open(paths, redactor, keyring_store))
    unreadable = Workspace.open(
        paths, redactor, UnavailableStore(redactor, "The keyring did not answer.")
    )
    reason = "The gateway was not checked: its URL is not known."

    preview = bundle_preview(
        unreadable, paths, redactor, now=NOW, doctor_skipped=reason
    )

    assert reason in preview["summary.txt"]
    assert "doctor.json" not in preview
    assert reason in json.loads(preview["manifest.json"])["notes"]
    status = json.loads(preview["status.json"])["stage"]
    assert status["token"]["unread"] == "the keyring could not be read"
    assert (
        "Token        unknown: the keyring could not be read" in preview["summary.txt"]
    )


def test_a_bundle_removes_a_token_echoed_in_pieces_in_the_log(
    workspace, paths, redactor
):
    add(workspace)
    paths.log_file.parent.mkdir(parents=True, exist_ok=True)
    echoed = "<wbr>".join(TOKEN.upper()[i : i + 4] for i in range(0, len(TOKEN), 4))
    paths.log_file.write_text(f"gateway said: token {echoed} is not valid\n")

    preview = bundle_preview(workspace, paths, Redactor(), now=NOW)

    tail = preview["logs/plan-runner.log"]
    assert tail == "gateway said: token [REDACTED] is not valid\n"


@pytest.mark.parametrize("part", ["head", "body"])
def test_the_doctors_get_ends_in_its_time_when_the_gateway_trickles(part):
    # A byte every 0.1 s resets each read's timeout; the GET as a whole is bound.
    with trickling_gateway(part, every=0.1) as gateway:
        started = time.monotonic()
        steps = run_doctor(
            gateway.url, ClientSettings(), timeout=2, redactor=Redactor()
        )
        elapsed = time.monotonic() - started

    assert elapsed < 5
    http = {step.name: step for step in steps}["HTTP"]
    if part == "head":
        assert http.verdict is Verdict.FAILED
        assert "no whole answer within 2 s" in http.detail
    else:
        assert http.verdict is Verdict.OK  # the status came; the body is only a peek
        assert "HTTP 200" in http.detail
