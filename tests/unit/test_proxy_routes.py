"""Proxies: what a run reports is the proxy httpx really uses, or a clear error."""

import http.server
import threading

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.diagnostics.proxies import _as_httpx_reads, effective_proxy
from app.core.errors import SetupError
from app.core.exchange import ClientSettings, mask_proxy, proxy_in_use
from app.core.http import build_client, post_queue, proxy_routes
from app.core.urls import parse_gateway_url

BODY = b'{"planId":681,"userId":1}'
GATEWAY = "https://gw.example.test/queue"
VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def clean_env(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)
    return monkeypatch


def proxy_the_client_uses(url):
    # What httpx itself will do: the transport its own send() picks for the URL.
    with build_client(ClientSettings()) as client:
        transport = client._transport_for_url(httpx.URL(url))
        if hasattr(transport, "problem"):
            return f"refused: {transport.problem}"
        pool = getattr(transport, "_pool", None)
        proxy = getattr(pool, "_proxy_url", None)
        if proxy is None:
            return None
        return f"{proxy.scheme.decode()}://{proxy.host.decode()}:{proxy.port}"


ENVIRONMENTS = [
    # A SOCKS proxy for the other scheme must not switch the good one off.
    {"HTTP_PROXY": "socks5://127.0.0.1:9", "HTTPS_PROXY": "http://corp.test:3128"},
    # A malformed variable leaves out that variable only.
    {"HTTPS_PROXY": "http://h:notaport", "ALL_PROXY": "http://corp.test:3128"},
    # httpx compares a NO_PROXY port with the URL's, which has none here.
    {"HTTPS_PROXY": "http://corp.test:3128", "NO_PROXY": "gw.example.test:443"},
    # For httpx a leading dot means subdomains only.
    {"HTTPS_PROXY": "http://corp.test:3128", "NO_PROXY": ".gw.example.test"},
    {"HTTPS_PROXY": "http://corp.test:3128", "NO_PROXY": "example.test"},
    {"HTTPS_PROXY": "http://corp.test:3128", "NO_PROXY": "[[[,gw.example.test"},
    {"ALL_PROXY": "http://corp.test:3128", "NO_PROXY": "https://gw.example.test"},
    {"https_proxy": "http://lower.test:1", "HTTPS_PROXY": "http://upper.test:2"},
]


URLS = [
    GATEWAY,
    "https://gw.example.test:443/queue",
    "http://gw.example.test/q",
    # The same name, with the final dot of the DNS root.
    "https://gw.example.test./queue",
]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("url", URLS)
def test_the_proxy_a_run_names_is_the_one_httpx_uses(clean_env, environment, url):
    for name, value in environment.items():
        clean_env.setenv(name, value)
    assert proxy_named_by_a_run(url) == proxy_the_client_uses(url)


def proxy_named_by_a_run(url):
    try:
        return proxy_in_use(url, ClientSettings())
    except SetupError as error:
        return f"refused: {error}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("url", URLS)
def test_the_diagnostics_name_the_proxy_a_run_uses(clean_env, environment, url):
    for name, value in environment.items():
        clean_env.setenv(name, value)
    facts = effective_proxy(
        parse_gateway_url(url.rsplit("/", 1)[0]), ClientSettings(), environ=environment
    )
    if facts.problem is not None:
        assert proxy_named_by_a_run(url) == f"refused: {facts.problem}"
    else:
        assert facts.proxy_url == proxy_named_by_a_run(url)


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "socks4"])
def test_a_socks_proxy_in_the_environment_is_a_clear_setup_error(clean_env, scheme):
    clean_env.setenv("HTTPS_PROXY", f"{scheme}://127.0.0.1:9")
    with pytest.raises(SetupError) as raised:
        proxy_in_use(GATEWAY, ClientSettings())
    assert str(raised.value).startswith(
        "HTTPS_PROXY names a SOCKS proxy, which Plan Runner does not support"
    )
    facts = effective_proxy(
        parse_gateway_url("https://gw.example.test"),
        ClientSettings(),
        environ={"HTTPS_PROXY": f"{scheme}://127.0.0.1:9"},
    )
    assert facts.problem == str(raised.value)


def test_a_socks_proxy_that_does_not_apply_is_no_error(clean_env):
    clean_env.setenv("HTTP_PROXY", "socks5://127.0.0.1:9")
    clean_env.setenv("ALL_PROXY", "socks5://127.0.0.1:9")
    clean_env.setenv("NO_PROXY", "gw.example.test")
    assert proxy_in_use(GATEWAY, ClientSettings()) is None


def test_a_request_never_goes_around_an_unusable_proxy(clean_env):
    clean_env.setenv("HTTPS_PROXY", "socks5://127.0.0.1:9")
    with build_client(ClientSettings()) as client:
        exchange = post_queue(client, GATEWAY, BODY, "tok", answer_seconds=5)
    assert exchange.failure is not None
    assert exchange.failure.kind == "proxy"
    assert not exchange.failure.sent
    assert "SOCKS" in exchange.failure.detail


class _Proxy(http.server.BaseHTTPRequestHandler):
    """A plain-http forward proxy that answers every run itself."""

    seen: list[str]

    def do_POST(self):
        self.seen.append(self.path)
        body = b'{"data": null, "result": {"code": 0}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback_proxy():
    seen = []
    handler = type("Handler", (_Proxy,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://u:secret@127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_run_goes_through_the_proxy_it_names(clean_env, loopback_proxy):
    proxy, seen = loopback_proxy
    url = "http://gw.example.test/queue"
    clean_env.setenv("ALL_PROXY", proxy)
    # A SOCKS proxy for the other scheme once made the client drop every proxy.
    clean_env.setenv("HTTPS_PROXY", "socks5://127.0.0.1:9")
    named = proxy_in_use(url, ClientSettings())
    with build_client(ClientSettings()) as client:
        exchange = post_queue(client, url, BODY, "tok", answer_seconds=5)
    assert exchange.answer is not None
    assert exchange.answer.status == 200
    assert seen == [url]
    assert named == proxy
    assert mask_proxy(named) == proxy.replace(":secret@", ":***@")


@pytest.mark.parametrize(
    ("entry", "note"),
    [
        ("*.example.test", "matches nothing"),
        ("gw.*.test", "matches nothing"),
        ("*example.test", "matches nothing"),
        ("10.0.0.0/8", "matches only the address 10.0.0.0"),
        ("127.0.0.0/8", "matches only the address 127.0.0.0"),
        ("example.test", None),
        (".example.test", None),
        ("10.0.0.1", None),
        ("localhost", None),
        ("::1", None),
        ("https://gw.example.test", None),
        ("gw.example.test:8443", None),
    ],
)
def test_a_no_proxy_entry_the_client_does_not_honour_is_named(clean_env, entry, note):
    clean_env.setenv("HTTPS_PROXY", "http://corp.test:3128")
    clean_env.setenv("NO_PROXY", f"other.test,{entry}")
    ignored = proxy_routes(ClientSettings()).ignored
    if note is None:
        assert ignored == ()
    else:
        assert len(ignored) == 1
        assert f"the NO_PROXY entry {entry!r} {note}" in ignored[0]


def test_a_wildcard_entry_is_told_the_form_the_client_understands(clean_env):
    clean_env.setenv("HTTPS_PROXY", "http://corp.test:3128")
    clean_env.setenv("NO_PROXY", "*.example.test")
    (note,) = proxy_routes(ClientSettings()).ignored
    assert "write '.example.test' for the subdomains of 'example.test'" in note
    assert proxy_in_use(GATEWAY, ClientSettings()) == "http://corp.test:3128"


@pytest.mark.parametrize(
    "url",
    [
        "https://gw.example.test./queue",
        "http://gw.example.test.:18080/queue",
        "https://www.gw.example.test./queue",
    ],
)
def test_a_gateway_name_with_the_root_dot_is_exempted_by_no_proxy(clean_env, url):
    clean_env.setenv("ALL_PROXY", "http://corp.test:3128")
    clean_env.setenv("NO_PROXY", "gw.example.test")
    assert proxy_in_use(url, ClientSettings()) is None
    assert proxy_the_client_uses(url) is None
    assert proxy_routes(ClientSettings()).ignored == ()
    facts = effective_proxy(
        parse_gateway_url(url.rsplit("/", 1)[0]),
        ClientSettings(),
        environ={"ALL_PROXY": "http://corp.test:3128", "NO_PROXY": "gw.example.test"},
    )
    assert facts.proxy_url is None
    assert "entry 'gw.example.test' matches" in facts.detail


def test_a_password_with_a_slash_is_hidden():
    assert mask_proxy("http://u:pa/ss@h:1") == "http://u:***@h:1"


names = st.sampled_from(["HTTP_PROXY", "https_proxy", "ALL_PROXY", "NO_PROXY"])
values = st.one_of(
    st.sampled_from(["http://p:1", "p:2", "", "socks5://s:3", "::bad::"]),
    st.lists(
        st.sampled_from(
            [
                "*",
                "gw.example.test",
                ".example.test",
                "10.0.0.1",
                "10.0.0.0/8",
                "::1",
                "localhost",
                "https://gw.example.test",
                " spaced.test ",
                "",
            ]
        ),
        max_size=3,
    ).map(",".join),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(environment=st.dictionaries(names, values, max_size=4))
def test_the_diagnostics_read_the_environment_as_httpx_does(clean_env, environment):
    from httpx._utils import get_environment_proxies

    for name in VARIABLES:
        clean_env.delenv(name, raising=False)
        clean_env.delenv(name.lower(), raising=False)
    found = {}
    for name, value in environment.items():
        clean_env.setenv(name, value)
        if value:
            found[name.lower()[:-6]] = (name, value)
    assert _as_httpx_reads(found)[0] == get_environment_proxies()
