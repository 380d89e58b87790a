"""The Linux package: build it, install it with apt, run the installed app, remove it.

It builds with packaging/build-deb.sh, installs the .deb system-wide (so it needs
root) and runs only when ``PLAN_RUNNER_BUILD_DEB=1``, as CI sets it. Every check of
the installed app runs ``/usr/bin/plan-runner``: the simulator too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import app

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        os.environ.get("PLAN_RUNNER_BUILD_DEB") != "1",
        reason="builds and installs the .deb as root: set PLAN_RUNNER_BUILD_DEB=1",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = "/usr/bin/plan-runner"
SIZE_BUDGET = 60 * 1000 * 1000
DECLARED_DEPENDS = [
    "libgl1", "libegl1", "libfontconfig1", "libxkbcommon0", "libglib2.0-0",
    "libdbus-1-3", "libxkbcommon-x11-0", "libxcb-cursor0", "libxcb-icccm4",
    "libxcb-image0", "libxcb-keysyms1", "libxcb-render-util0", "libxcb-shape0",
    "libxcb-xkb1",
]  # fmt: skip
FONTS = "fonts-dejavu-core | fonts-liberation2 | fonts-noto-core"
ICON_SIZES = (16, 32, 48, 64, 128, 256)


@dataclass
class Build:
    deb: Path
    tarball: Path
    seconds: float


def _report(request: pytest.FixtureRequest, line: str) -> None:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"[packaging] {line}")


def _architecture() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def build(request: pytest.FixtureRequest) -> Build:
    if os.geteuid() != 0:
        pytest.fail("PLAN_RUNNER_BUILD_DEB=1 needs root: the test installs the .deb")
    started = time.monotonic()
    result = subprocess.run(
        ["bash", "packaging/build-deb.sh"],
        cwd=ROOT, capture_output=True, text=True, timeout=780, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    version, arch = app.__version__, _architecture()
    built = Build(
        deb=ROOT / "dist" / f"plan-runner_{version}_{arch}.deb",
        tarball=ROOT / "dist" / f"plan-runner-{version}-linux-{arch}.tar.gz",
        seconds=seconds,
    )
    assert built.deb.is_file(), result.stdout
    assert built.tarball.is_file(), result.stdout
    size = built.deb.stat().st_size
    _report(
        request,
        f"{built.deb.name}: {size / 1e6:.1f} MB ({size} bytes), built in "
        f"{seconds:.0f} s",
    )
    return built


@pytest.fixture(scope="module")
def installed(build: Build) -> Iterator[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    package = f"./{build.deb.relative_to(ROOT)}"
    result = subprocess.run(
        ["apt-get", "install", "-y", "-q", "--reinstall", package],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    yield INSTALLED
    removed = subprocess.run(
        ["apt-get", "remove", "-y", "-q", "plan-runner"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not Path(INSTALLED).exists()
    assert not Path("/opt/plan-runner").exists()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of the installed app: a private home, no machine policy."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PLAN_RUNNER_", "PYTHON_KEYRING"))
    }
    clean["PLAN_RUNNER_HOME"] = str(tmp_path / "home")
    clean["PLAN_RUNNER_POLICY"] = str(tmp_path / "no-policy.json")
    return clean


def _field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "--field", str(deb), name],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def _run(*args: str, env: dict[str, str], stdin: str | None = None):
    return subprocess.run(
        [INSTALLED, *args],
        input=stdin, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


class InstalledSimulator:
    """``/usr/bin/plan-runner simulate`` on a free loopback port."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [INSTALLED, "simulate", "--port", "0", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        if not match:
            self.stop()
            pytest.fail(f"the installed simulator did not start: {line!r}")
        self.url = match.group(1)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


@pytest.fixture
def start_simulator(env) -> Iterator:
    started: list[InstalledSimulator] = []

    def start(*args: str) -> InstalledSimulator:
        sim = InstalledSimulator(env, *args)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> dict[str, Path]:
    """A private CA (trusted by nobody) and a loopback server certificate it signed."""
    import trustme

    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": folder / "ca.pem", "server": folder / "server.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.private_key_and_cert_chain_pem.write_to_path(str(files["server"]))
    return files


def _keyring(code: str) -> str:
    """Run ``code`` with keyring in a fresh interpreter: this one's may be patched."""
    return subprocess.run(
        [sys.executable, "-c", f"import keyring\n{code}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip


def _secret_service_available() -> bool:
    found = _keyring(
        "from keyring.backends import SecretService\n"
        "print(isinstance(keyring.get_keyring(), SecretService.Keyring))"
    )
    return found == "True"


def _require_secret_service() -> None:
    if _secret_service_available():
        return
    message = "no Secret Service keyring in this session; run through .ci/test"
    if os.environ.get("PLAN_RUNNER_REQUIRE_KEYRING") == "1":
        pytest.fail(message)
    pytest.skip(message)


# The package --------------------------------------------------------------------


def test_the_package_names_version_architecture_and_dependencies(build):
    depends = _field(build.deb, "Depends")
    names = {entry.split()[0] for entry in depends.split(",")}

    assert _field(build.deb, "Package") == "plan-runner"
    assert _field(build.deb, "Version") == app.__version__
    assert _field(build.deb, "Architecture") == _architecture()
    assert set(DECLARED_DEPENDS) <= names, depends
    assert FONTS in depends
    assert "libc6 (>=" in depends  # added from what the bundle links
    assert _field(build.deb, "Recommends") == "gnome-keyring | kwalletmanager"


def test_the_package_fits_the_size_budget(build):
    assert build.deb.stat().st_size <= SIZE_BUDGET


def test_the_package_holds_the_bundle_desktop_entry_icons_and_metainfo(build):
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(build.deb)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    paths = {line.split()[5].removeprefix(".") for line in listing.splitlines()}
    qt = "/opt/plan-runner/_internal/PySide6/Qt"

    assert "./usr/bin/plan-runner -> /opt/plan-runner/plan-runner" in listing
    expected = {
        "/opt/plan-runner/plan-runner",
        "/usr/share/applications/plan-runner.desktop",
        "/usr/share/metainfo/io.github.planrunner.PlanRunner.metainfo.xml",
        "/usr/share/icons/hicolor/scalable/apps/plan-runner.svg",
        "/usr/share/doc/plan-runner/copyright",
        "/usr/share/doc/plan-runner/examples/policy.json",
        "/opt/plan-runner/_internal/app/resources/plan-runner.svg",
        f"{qt}/plugins/platforms/libqxcb.so",
        f"{qt}/plugins/platforms/libqwayland.so",
        f"{qt}/plugins/platforms/libqoffscreen.so",
        f"{qt}/plugins/imageformats/libqsvg.so",
        f"{qt}/plugins/iconengines/libqsvgicon.so",
        *(f"/usr/share/icons/hicolor/{n}x{n}/apps/plan-runner.png" for n in ICON_SIZES),
    }
    assert expected <= paths, sorted(expected - paths)
    # Qt is trimmed to the modules the app uses; system libraries are not bundled.
    unwanted = re.compile(
        r"Qt6(Network|Qml|Quick|Pdf|WebEngine|Multimedia|3D)|/plugins/(tls|sqldrivers)"
        r"|_internal/lib(gtk-3|X11|xcb|glib-2\.0|fontconfig|stdc\+\+)"
    )
    assert not [p for p in paths if unwanted.search(p)]


def test_the_tarball_holds_a_bundle_that_runs(build, tmp_path, env):
    with tarfile.open(build.tarball) as archive:
        archive.extractall(tmp_path, filter="tar")

    result = subprocess.run(
        [str(tmp_path / "plan-runner" / "plan-runner"), "--version"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.stdout.strip() == f"plan-runner {app.__version__}"


# The installed app ----------------------------------------------------------------


def test_the_installed_desktop_entry_and_metainfo_validate(installed):
    desktop = subprocess.run(
        ["desktop-file-validate", "/usr/share/applications/plan-runner.desktop"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    metainfo = subprocess.run(
        ["appstreamcli", "validate", "--no-net",
         "/usr/share/metainfo/io.github.planrunner.PlanRunner.metainfo.xml"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert desktop.returncode == 0, desktop.stdout + desktop.stderr
    assert metainfo.returncode == 0, metainfo.stdout + metainfo.stderr


def test_the_installed_app_reports_the_version(installed, env):
    result = _run("--version", env=env)

    assert result.returncode == 0
    assert result.stdout.strip() == f"plan-runner {app.__version__}"


def test_the_installed_app_queues_a_plan_on_the_installed_simulator(
    installed, env, start_simulator
):
    sim = start_simulator()

    result = _run(
        "run", "--gateway", sim.url, "--plan", "681", "--user", "1",
        env={**env, "PLAN_RUNNER_TOKEN": "demo-token"},
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("QUEUED")
    assert sim.stop() == 0


def test_the_installed_app_trusts_what_the_os_store_trusts_and_nothing_else(
    installed, env, start_simulator, tls_files, tmp_path
):
    sim = start_simulator("--tls-cert", str(tls_files["server"]))
    assert sim.url.startswith("https://")
    empty = tmp_path / "no-certs"
    empty.mkdir()
    args = ("run", "--gateway", sim.url, "--plan", "681", "--user", "1")
    base = {**env, "PLAN_RUNNER_TOKEN": "demo-token"}
    base.pop("SSL_CERT_FILE", None)
    base.pop("SSL_CERT_DIR", None)

    # The OpenSSL store, pointed at a CA file holding the private CA: trusted.
    trusted = _run(
        *args,
        env={**base, "SSL_CERT_FILE": str(tls_files["ca"]), "SSL_CERT_DIR": str(empty)},
    )
    # The machine's own store, which has never heard of that CA: refused, not sent.
    untrusted = _run(*args, env=base)

    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert untrusted.returncode == 6, untrusted.stdout + untrusted.stderr
    assert "not trusted" in untrusted.stdout


def test_the_installed_app_trusts_the_extra_ca_file_of_the_machine_policy(
    installed, env, start_simulator, tls_files, tmp_path
):
    sim = start_simulator("--tls-cert", str(tls_files["server"]))
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "profiles": [{"name": "staging", "gateway_url": sim.url}],
                "extra_ca_file": str(tls_files["ca"]),
                "locked": ["profiles.gateway_url", "extra_ca_file"],
            }
        ),
        encoding="utf-8",
    )
    run_env = {**env, "PLAN_RUNNER_POLICY": str(policy)}
    run_env.pop("SSL_CERT_FILE", None)
    run_env.pop("SSL_CERT_DIR", None)

    result = _run(
        "run", "--profile", "staging", "--plan", "681", "--user", "1",
        env={**run_env, "PLAN_RUNNER_TOKEN": "demo-token"},
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_installed_app_passes_its_self_check(installed, env):
    result = _run("--self-check", env={**env, "QT_QPA_PLATFORM": "offscreen"})

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Result: OK" in result.stdout
    if _secret_service_available():
        assert "Keyring: OK" in result.stdout, result.stdout


def test_the_installed_app_keeps_a_token_in_the_real_keyring(
    installed, env, start_simulator
):
    _require_secret_service()
    sim = start_simulator()
    name = f"deb-{uuid.uuid4().hex[:8]}"
    try:
        added = _run("profile", "add", name, "--gateway", sim.url, env=env)
        stored = _run("token", "set", "--profile", name, env=env, stdin="demo-token")
        result = _run("run", "--profile", name, "--plan", "681", "--user", "1", env=env)
    finally:
        removed = _run("profile", "remove", name, env=env)

    assert added.returncode == 0, added.stderr
    assert stored.returncode == 0, stored.stderr
    assert "SecretService" in stored.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert removed.returncode == 0, removed.stderr
    assert _keyring(f"print(keyring.get_password('plan-runner', {name!r}))") == "None"
