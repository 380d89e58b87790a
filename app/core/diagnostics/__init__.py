"""Diagnostics for support: status facts, a connectivity doctor, curl, a bundle.

Everything here answers "why do this person's runs fail?" with facts a person
can act on, and never with the token. One module per job:

- :mod:`~app.core.diagnostics.status`: the facts of a profile and its problems;
- :mod:`~app.core.diagnostics.proxies`: which proxy applies, and from where;
- :mod:`~app.core.diagnostics.certificates`: what a server certificate says;
- :mod:`~app.core.diagnostics.doctor`: the connectivity doctor, step by step;
- :mod:`~app.core.diagnostics.curl`: a run as a curl command;
- :mod:`~app.core.diagnostics.bundle`: the redacted bundle for a ticket.

Their public names are all importable from this package. None of these modules
imports httpx at import time: the status panel imports this package when the
window opens, and only the functions that send need it.
"""

from __future__ import annotations

from app.core.diagnostics.bundle import (
    BUNDLE_HISTORY_ROWS,
    BUNDLE_LOG_BYTES,
    MANIFEST_NAME,
    BundleFile,
    BundleManifest,
    HistoryPages,
    bundle_preview,
    secret_forms,
    write_bundle,
)
from app.core.diagnostics.certificates import CertificateFacts, parse_certificate
from app.core.diagnostics.curl import (
    TOKEN_PLACEHOLDER,
    QueueCall,
    curl_command,
    curl_for,
)
from app.core.diagnostics.doctor import (
    CERTIFICATE_EXPIRES_SOON,
    DOCTOR_TIMEOUT,
    DoctorStep,
    Verdict,
    describe_steps,
    doctor_exit_code,
    format_doctor,
    run_doctor,
)
from app.core.diagnostics.proxies import (
    ProxyFacts,
    effective_proxy,
    mask_proxy_url,
    proxy_password,
    proxy_source,
)
from app.core.diagnostics.status import (
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_SETUP,
    EXIT_TOKEN,
    EXPIRES_SOON,
    TOKEN_VARIABLE,
    Area,
    Problem,
    default_profile_name,
    format_status,
    status_exit_code,
    status_report,
)

__all__ = [
    "BUNDLE_HISTORY_ROWS",
    "BUNDLE_LOG_BYTES",
    "CERTIFICATE_EXPIRES_SOON",
    "DOCTOR_TIMEOUT",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_SETUP",
    "EXIT_TOKEN",
    "EXPIRES_SOON",
    "MANIFEST_NAME",
    "TOKEN_PLACEHOLDER",
    "TOKEN_VARIABLE",
    "Area",
    "BundleFile",
    "BundleManifest",
    "CertificateFacts",
    "DoctorStep",
    "HistoryPages",
    "Problem",
    "ProxyFacts",
    "QueueCall",
    "Verdict",
    "bundle_preview",
    "curl_command",
    "curl_for",
    "default_profile_name",
    "describe_steps",
    "doctor_exit_code",
    "effective_proxy",
    "format_doctor",
    "format_status",
    "mask_proxy_url",
    "parse_certificate",
    "proxy_password",
    "proxy_source",
    "run_doctor",
    "secret_forms",
    "status_exit_code",
    "status_report",
    "write_bundle",
]
