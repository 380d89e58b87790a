"""The connectivity doctor: can this computer reach the gateway, and if not, why?

The doctor never sends a run. It resolves, connects, shakes hands and sends one
``GET`` to the gateway's base URL without an ``Authorization`` header.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from app.core.diagnostics.certificates import CertificateFacts, parse_certificate
from app.core.diagnostics.proxies import ProxyFacts, effective_proxy, mask_proxy_url
from app.core.diagnostics.status import EXIT_NETWORK, EXIT_OK, EXIT_SETUP
from app.core.errors import PlanRunnerError, SetupError
from app.core.exchange import Canceller, ClientSettings, for_gateway
from app.core.outcome import text_excerpt
from app.core.urls import GatewayUrl, is_ip_address, parse_gateway_url

# httpx (and app.core.http) are imported by the functions that send, so that the
# status panel and `plan-runner status` start without them.
if TYPE_CHECKING:
    import httpx

    from app.core.redact import Redactor

log = logging.getLogger(__name__)


CERTIFICATE_EXPIRES_SOON = timedelta(days=14)
DOCTOR_TIMEOUT = 5.0


_HTTP_PEEK_BYTES = 4096


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Verdict(StrEnum):
    """How one doctor step went."""

    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class DoctorStep:
    """One step of the doctor.

    Attributes:
        name: ``DNS``, ``Proxy``, ``TCP connect``, ``TLS handshake`` or ``HTTP``.
        verdict: See :class:`Verdict`.
        detail: What was found, in a sentence or two.
        remedy: What to do about it, in plain words (empty when all is well).
        facts: Plain data behind the detail (addresses, timings, certificate).
        setup: A failure caused by the local setup rather than the network.
    """

    name: str
    verdict: Verdict
    detail: str
    remedy: str = ""
    facts: Mapping[str, object] = field(default_factory=dict)
    setup: bool = False

    def to_dict(self) -> dict[str, object]:
        """Return the step as plain data."""
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "detail": self.detail,
            "remedy": self.remedy,
            "facts": dict(self.facts),
            "setup": self.setup,
        }


def doctor_exit_code(steps: Sequence[DoctorStep]) -> int:
    """Return 0 when no step failed, 8 for a setup failure, 6 for the network."""
    failed = [step for step in steps if step.verdict is Verdict.FAILED]
    if any(step.setup for step in failed):
        return EXIT_SETUP
    return EXIT_NETWORK if failed else EXIT_OK


def run_doctor(
    gateway_url: GatewayUrl | str,
    client_settings: ClientSettings,
    *,
    redactor: Redactor,
    timeout: float = DOCTOR_TIMEOUT,
    proxy_source: str | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> list[DoctorStep]:
    """Check, step by step, whether this machine can reach the gateway.

    The steps are DNS, proxy, TCP connect, TLS handshake (https only) and an
    HTTP ``GET`` of the gateway's base URL without the token. A step after a
    failed one is skipped with the reason. No run is sent, and each step is
    bounded by ``timeout`` seconds. A gateway on this machine is reached
    directly, whatever proxy the settings or the environment name, as runs reach
    it (see :func:`~app.core.exchange.for_gateway`). What the gateway and the
    network say is theirs to write; every step comes back through ``redactor``.

    Raises:
        InputError: ``gateway_url`` is a string that is not a gateway URL.
    """
    gateway = (
        gateway_url
        if isinstance(gateway_url, GatewayUrl)
        else parse_gateway_url(gateway_url)
    )
    timeout = min(max(timeout, 0.5), 60.0)
    # The rule of runs and status: a gateway on this machine is reached directly.
    # Every later step (the proxy facts, the tunnel, the HTTP client) follows
    # these settings, so none of them can go through a proxy for it.
    client_settings = for_gateway(client_settings, gateway)
    proxy = effective_proxy(gateway, client_settings, source=proxy_source)
    if gateway.is_loopback:
        proxy = dataclasses.replace(
            proxy,
            source="none (the gateway is on this machine)",
            detail="No proxy: connects directly, because the gateway is on this "
            "machine (a proxy is never used for it).",
        )
    doctor = _Doctor(gateway, client_settings, proxy, timeout, clock)
    checks: list[tuple[str, Callable[[], DoctorStep]]] = [
        ("DNS", doctor.dns),
        ("Proxy", doctor.proxy),
        ("TCP connect", doctor.tcp),
        ("TLS handshake", doctor.tls),
        ("HTTP", doctor.http),
    ]
    steps: list[DoctorStep] = []
    blocked: str | None = None
    for name, check in checks:
        if blocked is not None:
            steps.append(
                DoctorStep(
                    name,
                    Verdict.SKIPPED,
                    f"Skipped: the {blocked} step failed.",
                )
            )
            continue
        try:
            step = check()
        except Exception as error:  # the doctor reports, never crashes
            log.exception("Doctor step %s failed unexpectedly", name)
            step = DoctorStep(
                name,
                Verdict.FAILED,
                f"The check itself failed unexpectedly ({type(error).__name__}).",
                "Send the diagnostic bundle to support; the log has the details.",
            )
        steps.append(_redacted(step, redactor))
        if step.verdict is Verdict.FAILED:
            blocked = name
    log.info(
        "Doctor for %s: %s",
        gateway.base,
        ", ".join(f"{step.name} {step.verdict.value}" for step in steps),
    )
    return steps


def _redacted(step: DoctorStep, redactor: Redactor) -> DoctorStep:
    return dataclasses.replace(
        step,
        detail=redactor.redact(step.detail),
        remedy=redactor.redact(step.remedy),
        facts=cast("dict[str, object]", redactor.redact_all(step.facts)),
    )


def _default_port(scheme: str) -> int:
    return {"https": 443, "http": 80, "socks5": 1080, "socks5h": 1080}.get(scheme, 80)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _resolve(host: str, port: int, timeout: float) -> tuple[list[str], str | None]:
    """Resolve ``host`` within ``timeout``; return addresses or why not.

    ``getaddrinfo`` has no timeout of its own, so it runs on a daemon thread that
    is abandoned (and ends by itself) when the lookup takes too long.
    """
    result: dict[str, Any] = {}

    def lookup() -> None:
        try:
            result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            result["error"] = error

    worker = threading.Thread(target=lookup, name="doctor-dns", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return [], f"no answer within {timeout:g} s"
    if "error" in result:
        error = result["error"]
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        return [], str(reason)
    addresses: list[str] = []
    for info in result["infos"]:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses, None


class _Doctor:
    """The steps of :func:`run_doctor`, sharing what earlier steps found."""

    def __init__(
        self,
        gateway: GatewayUrl,
        settings: ClientSettings,
        proxy: ProxyFacts,
        timeout: float,
        clock: Callable[[], datetime],
    ) -> None:
        import httpx  # noqa: PLC0415

        self.gateway = gateway
        self.settings = settings
        self.proxy_facts = proxy
        self.timeout = timeout
        self.clock = clock
        self.port = gateway.port or _default_port(gateway.scheme)
        self.addresses: list[str] = []
        self.target: tuple[str, int] = (gateway.host, self.port)
        self.via_proxy = proxy.proxy_url is not None and proxy.problem is None
        if self.via_proxy and proxy.proxy_url is not None:
            proxy_url = httpx.URL(proxy.proxy_url)
            self.target = (
                proxy_url.host,
                proxy_url.port or _default_port(proxy_url.scheme),
            )
        self.connected_address: str | None = None

    # DNS ---------------------------------------------------------------

    def dns(self) -> DoctorStep:
        host = self.gateway.host
        if is_ip_address(host):
            self.addresses = [host]
            return DoctorStep(
                "DNS",
                Verdict.OK,
                f"{host} is an IP address: no lookup needed.",
                facts={"addresses": [host]},
            )
        started = time.monotonic()
        addresses, error = _resolve(host, self.port, self.timeout)
        elapsed = _ms(started)
        if error is None:
            self.addresses = addresses
            return DoctorStep(
                "DNS",
                Verdict.OK,
                f"{host} resolves to {', '.join(addresses)} ({elapsed:g} ms).",
                facts={"addresses": addresses, "ms": elapsed},
            )
        text = f"This computer cannot find {host} ({error})."
        if self.via_proxy:
            return DoctorStep(
                "DNS",
                Verdict.WARNING,
                f"{text} A proxy applies, and it looks names up itself, so this may "
                "not matter.",
                "If the later steps fail too, check the gateway URL for typos.",
                facts={"error": error},
            )
        return DoctorStep(
            "DNS",
            Verdict.FAILED,
            f"{text} No proxy applies, so this computer must find it itself.",
            "Check the gateway URL for typos. If it is right, check the network or "
            "VPN connection: internal gateways are often known only inside the "
            "company network.",
            facts={"error": error},
        )

    # Proxy -------------------------------------------------------------

    def proxy(self) -> DoctorStep:
        facts = self.proxy_facts
        if facts.problem:
            return DoctorStep(
                "Proxy",
                Verdict.FAILED,
                facts.detail,
                f"Fix or remove the proxy in {facts.source}; ask IT for the right "
                "proxy address if one is needed.",
                facts=facts.as_dict(),
                setup=True,
            )
        if facts.ignored:
            return DoctorStep(
                "Proxy",
                Verdict.WARNING,
                facts.detail
                + (
                    "" if facts.url is None else " Ignored: " + "; ".join(facts.ignored)
                ),
                "Fix the values named, or remove them if no proxy is needed.",
                facts=facts.as_dict(),
            )
        return DoctorStep("Proxy", Verdict.OK, facts.detail, facts=facts.as_dict())

    # TCP ---------------------------------------------------------------

    def tcp(self) -> DoctorStep:
        host, port = self.target
        what = f"the proxy {host}:{port}" if self.via_proxy else f"{host}:{port}"
        try:
            sock, address, elapsed = self._connect()
        except _StepError as error:
            return DoctorStep("TCP connect", Verdict.FAILED, error.detail, error.remedy)
        sock.close()
        return DoctorStep(
            "TCP connect",
            Verdict.OK,
            f"Connected to {what}"
            + ("" if address == host else f" ({address})")
            + f" in {elapsed:g} ms.",
            facts={"host": host, "port": port, "address": address, "ms": elapsed},
        )

    def _connect(self) -> tuple[socket.socket, str, float]:
        """Open a TCP connection to the gateway or its proxy."""
        host, port = self.target
        what = f"the proxy {host}:{port}" if self.via_proxy else f"{host}:{port}"
        if self.via_proxy or not self.addresses:
            if is_ip_address(host):
                addresses: list[str] = [host]
            else:
                addresses, error = _resolve(host, port, self.timeout)
                if error is not None:
                    raise _StepError(
                        f"This computer cannot find the proxy host {host} ({error}).",
                        "Check the proxy address in the settings or the environment.",
                    )
        else:
            addresses = self.addresses
        errors: list[tuple[str, OSError]] = []
        for address in addresses[:4]:
            started = time.monotonic()
            try:
                sock = socket.create_connection((address, port), timeout=self.timeout)
            except OSError as error:
                errors.append((address, error))
                continue
            self.connected_address = address
            return sock, address, _ms(started)
        raise _StepError(*self._explain_connect(what, port, errors))

    def _explain_connect(
        self, what: str, port: int, errors: list[tuple[str, OSError]]
    ) -> tuple[str, str]:
        address, error = errors[-1]
        if isinstance(error, ConnectionRefusedError):
            detail = (
                f"{what} refused the connection: nothing is listening on port {port}."
            )
            remedy = (
                "The proxy is not running at that address: check the proxy setting."
                if self.via_proxy
                else "The gateway is down, or the port in the gateway URL is wrong. "
                "Check the URL; if it is right, tell the gateway's team."
            )
        elif isinstance(error, TimeoutError):
            detail = (
                f"No answer from {what} within {self.timeout:g} s: a firewall drops "
                "the connection, or the host is down."
            )
            remedy = (
                "Check the network or VPN connection. If other sites work, ask IT "
                "whether a firewall blocks this host and port."
            )
        else:
            reason = error.strerror or str(error) or type(error).__name__
            detail = f"Cannot connect to {what} ({address}): {reason}."
            remedy = "Check the network or VPN connection, then try again."
        return detail, remedy

    def _open_tunnel(self) -> socket.socket:
        """Connect to the gateway, through an http proxy's CONNECT if one applies."""
        import httpx  # noqa: PLC0415

        sock, _, _ = self._connect()
        if not self.via_proxy:
            return sock
        assert self.proxy_facts.proxy_url is not None  # noqa: S101 - via_proxy says so
        proxy_url = httpx.URL(self.proxy_facts.proxy_url)
        if proxy_url.scheme != "http":
            sock.close()
            raise _StepError(
                f"The doctor cannot look through a {proxy_url.scheme} proxy itself; "
                "the HTTP step below uses it as a run would.",
                "",
                skipped=True,
            )
        try:
            status, reason = _connect_through_proxy(
                sock, self.gateway.host, self.port, proxy_url, self.timeout
            )
        except OSError as error:
            sock.close()
            raise _StepError(
                f"The proxy {self.target[0]} did not open a tunnel to "
                f"{self.gateway.host}: {error}.",
                "Check the proxy setting, or ask IT whether the proxy is working.",
            ) from None
        if status != 200:
            sock.close()
            if status == 407:
                raise _StepError(
                    "The proxy asks for a user name and password (HTTP 407).",
                    "Put the credentials in the proxy URL "
                    "(http://user:password@proxy:port) or ask IT.",
                )
            raise _StepError(
                f"The proxy refused to connect to {self.gateway.host}:{self.port} "
                f"(HTTP {status} {reason}).",
                "Ask IT whether the proxy allows this host; if it should be reached "
                "directly, add it to NO_PROXY.",
            )
        return sock

    # TLS ---------------------------------------------------------------

    def tls(self) -> DoctorStep:
        from app.core.http import tls_context  # noqa: PLC0415

        gateway = self.gateway
        if gateway.scheme != "https":
            if gateway.is_loopback:
                return DoctorStep(
                    "TLS handshake",
                    Verdict.SKIPPED,
                    "The gateway URL is plain http:// on this computer: there is no "
                    "TLS to check.",
                )
            return DoctorStep(
                "TLS handshake",
                Verdict.WARNING,
                f"The gateway URL is plain http://: the token would travel "
                f"unencrypted to {gateway.host}, so runs are refused unless the "
                "profile allows plain http.",
                "Use the gateway's https:// address.",
            )
        extra = self.settings.extra_ca_file
        trust = "the OS trust store" + (
            f" plus the extra CA file {extra}" if extra else ""
        )
        try:
            context = tls_context(extra)
        except SetupError as error:
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                str(error),
                "Point the extra CA file at a readable PEM file of the company's CA "
                "certificate, or ask IT.",
                setup=True,
            )
        try:
            sock = self._open_tunnel()
        except _StepError as error:
            verdict = Verdict.SKIPPED if error.skipped else Verdict.FAILED
            return DoctorStep("TLS handshake", verdict, error.detail, error.remedy)
        started = time.monotonic()
        try:
            sock.settimeout(self.timeout)
            with context.wrap_socket(sock, server_hostname=gateway.host) as tls:
                der = tls.getpeercert(binary_form=True) or b""
                version = tls.version()
                elapsed = _ms(started)
        except ssl.SSLCertVerificationError as error:
            return self._untrusted(error, trust)
        except ssl.SSLError as error:
            return self._handshake_failed(error)
        except TimeoutError:
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The TLS handshake with {gateway.host} did not finish within "
                f"{self.timeout:g} s.",
                "A proxy or firewall may hold TLS connections; ask IT.",
            )
        except OSError as error:
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The connection closed during the TLS handshake with "
                f"{gateway.host} ({error.strerror or error}).",
                "A firewall or proxy may cut TLS connections to this host; ask IT.",
            )
        finally:
            sock.close()
        return self._trusted(der, version, elapsed, trust)

    def _trusted(
        self, der: bytes, version: str | None, elapsed: float, trust: str
    ) -> DoctorStep:
        now = self.clock()
        try:
            cert = parse_certificate(der)
        except ValueError as error:
            return DoctorStep(
                "TLS handshake",
                Verdict.OK,
                f"The certificate of {self.gateway.host} is trusted by {trust}, but "
                f"its details could not be read ({error}).",
                facts={"tls_version": version, "ms": elapsed},
            )
        facts = {**cert.as_dict(now), "tls_version": version, "ms": elapsed}
        detail = (
            f"The certificate of {self.gateway.host} is trusted by {trust}: "
            f"subject '{cert.subject_name}', issued by '{cert.issuer_name}', "
            f"{cert.validity_words(now)}; {version} in {elapsed:g} ms."
        )
        if cert.not_after is not None and cert.not_after - now < (
            CERTIFICATE_EXPIRES_SOON
        ):
            return DoctorStep(
                "TLS handshake",
                Verdict.WARNING,
                detail,
                "The certificate expires soon: tell the gateway's team.",
                facts=facts,
            )
        return DoctorStep("TLS handshake", Verdict.OK, detail, facts=facts)

    def _untrusted(self, error: ssl.SSLCertVerificationError, trust: str) -> DoctorStep:
        host = self.gateway.host
        now = self.clock()
        reason = str(error.verify_message or error.reason or error)
        cert = self._describe_untrusted()
        facts: dict[str, object] = {
            "verify_code": error.verify_code,
            "verify_message": reason,
            "trust": trust,
        }
        if cert is None:
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The certificate of {host} is not trusted by {trust}: {reason}.",
                "If your company inspects TLS, ask IT to install its CA certificate, "
                "or set the extra CA file in the profile's settings.",
                facts=facts,
            )
        facts["certificate"] = {
            **cert.as_dict(now),
            "note": "read without verification, only to describe it",
        }
        issuer = cert.issuer_name
        described = (
            f"subject '{cert.subject_name}', issued by '{issuer}', "
            f"{cert.validity_words(now)}"
        )
        code = error.verify_code
        if code == 62 or "mismatch" in reason.lower():
            names = ", ".join(cert.alt_names) or cert.subject_name
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The certificate presented at {host} is for {names}, not for {host} "
                f"({described}).",
                "Use the host name the certificate is for in the gateway URL, or tell "
                "the gateway's team that its certificate does not cover this name.",
                facts=facts,
            )
        if code == 10 or (cert.not_after is not None and cert.not_after <= now):
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The certificate of {host} has expired ({described}).",
                "Tell the gateway's team that their certificate expired; if the date "
                "looks wrong, check this computer's clock.",
                facts=facts,
            )
        if cert.self_signed:
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The certificate of {host} is self-signed ('{issuer}'), so {trust} "
                "cannot vouch for it.",
                "If this is a test gateway, get its certificate from the gateway's "
                "team and set it as the extra CA file in the profile, or ask IT to "
                "install it.",
                facts=facts,
            )
        extra = self.settings.extra_ca_file
        return DoctorStep(
            "TLS handshake",
            Verdict.FAILED,
            f"The certificate of {host} is issued by '{issuer}', not by a public CA "
            f"this computer trusts: if '{issuer}' is your company's, your company "
            f"inspects TLS traffic. (Certificate: {described}; checked against "
            f"{trust}.)",
            "Ask IT to install the company's CA certificate on this computer, or "
            + (
                "check that the extra CA file holds that CA."
                if extra
                else "save it as a PEM file and set it as the extra CA file in the "
                "profile's settings."
            ),
            facts=facts,
        )

    def _describe_untrusted(self) -> CertificateFacts | None:
        """Fetch the certificate without verification, only to describe it.

        A new connection is opened, the handshake done and the connection closed:
        nothing is ever sent over it.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # only to read the certificate
        try:
            sock = self._open_tunnel()
        except _StepError:
            return None
        try:
            sock.settimeout(self.timeout)
            with context.wrap_socket(sock, server_hostname=self.gateway.host) as tls:
                der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError):
            return None
        finally:
            sock.close()
        if not der:
            return None
        try:
            return parse_certificate(der)
        except ValueError:
            return None

    def _handshake_failed(self, error: ssl.SSLError) -> DoctorStep:
        text = str(error)
        host, port = self.gateway.host, self.port
        if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text.lower():
            return DoctorStep(
                "TLS handshake",
                Verdict.FAILED,
                f"The server at {host}:{port} does not speak TLS.",
                "The gateway URL probably should start with http://, or the port is "
                "wrong. Check the URL with the gateway's team.",
                facts={"error": text[:200]},
            )
        return DoctorStep(
            "TLS handshake",
            Verdict.FAILED,
            f"The TLS handshake with {host} failed: {error.reason or text[:200]}.",
            "An old server, or a proxy or firewall that interferes with TLS, can "
            "cause this; tell IT and the gateway's team.",
            facts={"error": text[:200]},
        )

    # HTTP --------------------------------------------------------------

    def http(self) -> DoctorStep:
        import httpx  # noqa: PLC0415

        from app.core.http import (  # noqa: PLC0415
            WireLog,
            build_client,
            classify_failure,
        )

        t = self.timeout
        settings = dataclasses.replace(
            self.settings,
            connect_timeout=t,
            read_timeout=t,
            write_timeout=t,
            pool_timeout=t,
        )
        base = self.gateway.base
        # Every timeout above bounds one wait; a gateway that trickles a header
        # line or a byte at a time resets them forever. The GET as a whole gets
        # ``t`` seconds: then its connection is shut down.
        canceller = Canceller()
        try:
            client = build_client(settings, canceller)
        except PlanRunnerError as error:
            return DoctorStep("HTTP", Verdict.FAILED, str(error), "", setup=True)
        except (ImportError, ValueError, TypeError, httpx.InvalidURL) as error:
            return DoctorStep(
                "HTTP",
                Verdict.FAILED,
                f"The HTTP client cannot be set up: {mask_proxy_url(str(error))}.",
                "Fix the proxy settings named above.",
                setup=True,
            )
        started = time.monotonic()
        wire = WireLog()  # what reached the wire names the failure, as for a run
        deadline = threading.Timer(t, canceller.cancel, ("deadline",))
        deadline.daemon = True
        deadline.start()
        with client:
            try:
                # A GET of the base URL, without the token: never a run.
                with client.stream("GET", base, extensions={"trace": wire}) as response:
                    status = response.status_code
                    headers = {k.lower(): v for k, v in response.headers.items()}
                    peek = _peek(response, started + t)
            except httpx.HTTPError as error:
                if canceller.expired:
                    return DoctorStep(
                        "HTTP",
                        Verdict.FAILED,
                        f"A GET of {base} got no whole answer within {t:g} s: the "
                        "connection stayed open, but the answer's head never ended "
                        "(the gateway or something on the way sends it a little at "
                        "a time, or not at all).",
                        "Try again; if it stays so, send the diagnostic bundle to the "
                        "gateway's team.",
                        facts={"failure": "deadline"},
                    )
                failure = classify_failure(error, wire=wire)
                return DoctorStep(
                    "HTTP",
                    Verdict.FAILED,
                    f"A GET of {base} failed ({failure.kind}): {failure.detail}.",
                    _FAILURE_REMEDIES.get(
                        failure.kind,
                        "Check the network or VPN connection, then try again.",
                    ),
                    facts={"failure": failure.kind},
                )
            finally:
                deadline.cancel()
        return self._judge(status, headers, peek, _ms(started))

    def _judge(
        self, status: int, headers: dict[str, str], body: bytes, elapsed: float
    ) -> DoctorStep:
        base, host = self.gateway.base, self.gateway.host
        excerpt = _said(body, headers.get("content-type", ""))
        facts: dict[str, object] = {"status": status, "ms": elapsed, "url": base}
        for name in ("server", "via", "location", "content-type", "www-authenticate"):
            if name in headers:
                facts[name] = headers[name][:200]
        said = f" ('{excerpt}')" if excerpt else ""
        answered = (
            f"A GET of {base} (without the token) was answered with HTTP {status}"
            f"{said} in {elapsed:g} ms"
        )
        if 200 <= status < 300 or status in (401, 405):
            return DoctorStep(
                "HTTP",
                Verdict.OK,
                f"{answered}: the gateway is reachable.",
                facts=facts,
            )
        if 300 <= status < 400:
            where = headers.get("location", "another address")
            return DoctorStep(
                "HTTP",
                Verdict.WARNING,
                f"{answered}: it redirects to {where}.",
                "Runs are never redirected (the token would follow). If this points "
                "to https:// or a login page, the gateway URL is probably wrong.",
                facts=facts,
            )
        if status == 404:
            return DoctorStep(
                "HTTP",
                Verdict.WARNING,
                f"{answered}: {host} answers, but nothing is at this path.",
                "Some gateways answer 404 on their base URL. If runs get 404 too, the "
                "path prefix in the gateway URL (such as /api/v2) is wrong.",
                facts=facts,
            )
        if status == 407:
            return DoctorStep(
                "HTTP",
                Verdict.FAILED,
                f"{answered}: the proxy asks for a user name and password.",
                "Put the credentials in the proxy URL "
                "(http://user:password@proxy:port) or ask IT.",
                facts=facts,
            )
        if status == 403:
            return DoctorStep(
                "HTTP",
                Verdict.WARNING,
                f"{answered}: a firewall, a proxy or the gateway refuses access from "
                "here.",
                "Ask IT whether this computer may reach the gateway.",
                facts=facts,
            )
        if status >= 500:
            return DoctorStep(
                "HTTP",
                Verdict.FAILED,
                f"{answered}: the gateway, or a proxy in front of it, is failing.",
                "Try again in a few minutes; if it lasts, tell the gateway's team the "
                "time of this check.",
                facts=facts,
            )
        return DoctorStep(
            "HTTP",
            Verdict.WARNING,
            f"{answered}.",
            "The gateway is reachable but answered unexpectedly; tell support.",
            facts=facts,
        )


_FAILURE_REMEDIES = {
    "dns": "Check the gateway URL for typos, and the network or VPN connection.",
    "tls": "If your company inspects TLS, ask IT to install its CA certificate, or "
    "set the extra CA file in the profile's settings.",
    "proxy": "Check the proxy settings (HTTPS_PROXY, NO_PROXY or the profile's "
    "proxy), and the user name and password if the proxy asks for a sign-in, or "
    "ask IT.",
    "header": "A value sent in the request's headers cannot be sent: set the token "
    "again.",
    "connect": "The gateway is down or unreachable from here: check the network or "
    "VPN, then try again.",
    "connect_timeout": "The gateway is down or unreachable from here: check the "
    "network or VPN, then try again.",
    "read_timeout": "The gateway accepted the connection but did not answer in time; "
    "it may be overloaded. Try again later.",
    "dropped": "The connection was dropped: a proxy or firewall may cut it. Ask IT.",
    "protocol": "What answered is not speaking HTTP as a gateway should: check that "
    "the gateway URL points at the gateway, or send the diagnostic bundle to the "
    "gateway's team.",
}


class _StepError(Exception):
    def __init__(self, detail: str, remedy: str, *, skipped: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.remedy = remedy
        self.skipped = skipped


def _connect_through_proxy(
    sock: socket.socket, host: str, port: int, proxy_url: httpx.URL, timeout: float
) -> tuple[int, str]:
    """Ask an http proxy to open a tunnel; return its status and reason."""
    import base64  # noqa: PLC0415 - only proxies with credentials need it

    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if proxy_url.username:
        pair = f"{proxy_url.username}:{proxy_url.password}".encode()
        lines.append(f"Proxy-Authorization: Basic {base64.b64encode(pair).decode()}")
    sock.settimeout(timeout)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    data = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data:
        if len(data) > 16 * 1024 or time.monotonic() > deadline:
            raise OSError("the proxy's answer was too long or too slow")
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("the proxy closed the connection")
        data += chunk
    status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"the proxy answered {status_line[:80]!r}")
    return int(parts[1]), parts[2] if len(parts) > 2 else ""


def _said(body: bytes, content_type: str) -> str:
    """Return what an answer says in a few words: a JSON message, or an excerpt."""
    text = body.decode("utf-8", errors="replace")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict):
        for key in ("message", "error", "status"):
            value = document.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return text_excerpt(str(value), "", 80)
    return text_excerpt(text, content_type, 80)


def _peek(response: httpx.Response, deadline: float) -> bytes:
    import httpx  # noqa: PLC0415

    body = b""
    try:
        for chunk in response.iter_bytes(chunk_size=1024):
            body += chunk
            if len(body) >= _HTTP_PEEK_BYTES or time.monotonic() > deadline:
                break
    except httpx.HTTPError:
        pass  # the status is what counts; the body is only for an excerpt
    return body[:_HTTP_PEEK_BYTES]


_MARKS = {
    Verdict.OK: "[ ok ]",
    Verdict.WARNING: "[warn]",
    Verdict.FAILED: "[FAIL]",
    Verdict.SKIPPED: "[skip]",
}


def format_doctor(steps: Sequence[DoctorStep], gateway: GatewayUrl | None) -> str:
    """Return the doctor's steps as text for a terminal or a ticket."""
    lines = []
    if gateway is not None:
        lines.append(
            f"Doctor for {gateway.base}  (runs go to {gateway.queue_url}; no run is "
            "sent)"
        )
    width = max((len(step.name) for step in steps), default=0)
    for step in steps:
        lines.append(f"{_MARKS[step.verdict]} {step.name:<{width}}  {step.detail}")
        if step.remedy and step.verdict is not Verdict.OK:
            lines.append(f"       {'':<{width}}  Fix: {step.remedy}")
    code = doctor_exit_code(steps)
    words = {EXIT_OK: "reachable", EXIT_NETWORK: "network problem"}
    lines.append(f"Result: {words.get(code, 'setup problem')} (exit code {code})")
    return "\n".join(lines)


def describe_steps(steps: Iterable[DoctorStep]) -> list[dict[str, object]]:
    """Return doctor steps as plain data (for JSON output)."""
    return [step.to_dict() for step in steps]
