"""Several Plan Runners changing one settings file: no change is lost.

These use real processes: the lock is the operating system's, held per open
file, and a test within one process would not show what two processes do.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.core.errors import ConfigError, InputError
from app.core.paths import AppPaths
from app.core.settings import Profile, Settings, SettingsStore
from app.core.workspace import Workspace

TOKEN = "unit-token-abcdef"
WRITERS = 16


def _add_profile(path: str, name: str, start: float) -> None:
    """Add one profile through its own store, as a separate command would."""
    while time.monotonic() < start:  # all writers begin together
        time.sleep(0.001)
    store = SettingsStore(Path(path), lock_timeout=30)
    store.update(
        lambda settings: settings.model_copy(
            update={"profiles": [*settings.profiles, Profile(name=name)]}
        )
    )


def _names_on_disk(path: Path) -> list[str]:
    return [p["name"] for p in json.loads(path.read_text())["profiles"]]


def _in_another_process(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


ADD_IN_ANOTHER_PROCESS = """
import sys
from pathlib import Path
from app.core.settings import Profile, SettingsStore

store = SettingsStore(Path(sys.argv[1]))
store.update(
    lambda s: s.model_copy(update={"profiles": [*s.profiles, Profile(name=sys.argv[2])]})
)
"""

HOLD_THE_LOCK = """
import sys, time
from pathlib import Path
from app.core.settings import SettingsStore

store = SettingsStore(Path(sys.argv[1]))
with store.locked():
    print("held", flush=True)
    time.sleep(60)
"""


def test_concurrent_writers_in_separate_processes_keep_every_profile(tmp_path):
    path = tmp_path / "settings.json"
    context = multiprocessing.get_context("spawn")
    start = time.monotonic() + 2.0
    writers = [
        context.Process(target=_add_profile, args=(str(path), f"p{i}", start))
        for i in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert [writer.exitcode for writer in writers] == [0] * WRITERS

    assert sorted(_names_on_disk(path)) == sorted(f"p{i}" for i in range(WRITERS))


@pytest.fixture
def workspace(tmp_path, keyring_store, redactor):
    paths = AppPaths.from_environment(
        {
            "PLAN_RUNNER_HOME": str(tmp_path),
            "PLAN_RUNNER_POLICY": str(tmp_path / "policy.json"),
        }
    )
    return Workspace.open(paths, redactor, keyring_store)


def _added_elsewhere(workspace: Workspace, name: str) -> None:
    path = workspace.settings_store.path
    result = _in_another_process(ADD_IN_ANOTHER_PROCESS, str(path), name)
    assert result.returncode == 0, result.stderr


def test_a_workspace_with_old_settings_keeps_a_profile_another_process_added(
    workspace,
):
    workspace.save_profile(Profile(name="mine"), gateway_url="https://gw", token=TOKEN)
    _added_elsewhere(workspace, "from-cli")
    assert [p.name for p in workspace.profiles()] == ["mine"]  # not seen yet

    workspace.remember_last_profile("mine")

    path = workspace.settings_store.path
    assert _names_on_disk(path) == ["mine", "from-cli"]
    assert json.loads(path.read_text())["last_profile"] == "mine"
    # The workspace now holds what the file holds.
    assert [p.name for p in workspace.profiles()] == ["mine", "from-cli"]


@pytest.mark.parametrize(
    "change",
    [
        lambda w: w.save_profile(Profile(name="other"), gateway_url="https://gw"),
        lambda w: w.save_profile(Profile(name="mine", read_timeout=9)),
        lambda w: w.remove_profile("mine"),
        lambda w: w.set_retention(w.retention().model_copy(update={"keep_runs": 5})),
    ],
    ids=["add", "edit", "remove", "retention"],
)
def test_every_change_keeps_what_another_process_saved(workspace, change):
    workspace.save_profile(Profile(name="mine"), gateway_url="https://gw", token=TOKEN)
    _added_elsewhere(workspace, "from-cli")

    change(workspace)

    assert "from-cli" in _names_on_disk(workspace.settings_store.path)
    assert "from-cli" in [p.name for p in workspace.profiles()]


def test_a_taken_name_is_checked_against_the_file_not_memory(workspace):
    _added_elsewhere(workspace, "taken")
    assert workspace.profiles() == []

    with pytest.raises(InputError, match="exists already"):
        workspace.save_profile(
            Profile(name="taken", read_timeout=9), gateway_url="https://gw", new=True
        )

    [kept] = json.loads(workspace.settings_store.path.read_text())["profiles"]
    assert kept["read_timeout"] != 9
    assert workspace.secrets.load("taken").gateway_url is None


def test_a_command_update_changes_only_the_given_fields_of_the_file(workspace):
    workspace.save_profile(Profile(name="p", default_user=1), gateway_url="https://gw")
    store = SettingsStore(workspace.settings_store.path)
    other = Workspace(store, workspace.secrets, workspace.policy, workspace.redactor)
    other.save_profile(Profile(name="p", default_user=1, colour="#112233"))

    existed = workspace.update_profile("p", {"default_user": 7})

    assert existed
    assert workspace.profile("p").colour == "#112233"
    assert workspace.profile("p").default_user == 7


def _hold_the_lock(path: Path) -> subprocess.Popen[str]:
    """Start a process that takes the settings lock and keeps it for a minute."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLD_THE_LOCK), str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_lock_held_too_long_is_one_clear_error_naming_the_file(tmp_path):
    path = tmp_path / "settings.json"
    with _hold_the_lock(path) as holder:
        store = SettingsStore(path, lock_timeout=0.5)
        started = time.monotonic()
        try:
            with pytest.raises(ConfigError) as raised:
                store.update(lambda s: s.model_copy(update={"last_profile": "x"}))
            assert time.monotonic() - started < 5
        finally:
            holder.kill()
    message = str(raised.value)
    assert str(path) in message
    assert "did not finish within 0.5 s" in message
    assert not path.exists()


def test_a_killed_holder_does_not_block_the_next_change(tmp_path):
    path = tmp_path / "settings.json"
    with _hold_the_lock(path) as holder:
        os.kill(holder.pid, signal.SIGKILL)
    assert (tmp_path / "settings.json.lock").exists()  # left behind, but unheld

    store = SettingsStore(path, lock_timeout=2)
    store.update(lambda s: s.model_copy(update={"last_profile": "x"}))

    assert json.loads(path.read_text())["last_profile"] == "x"


def test_the_lock_file_is_owner_only(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    old_umask = os.umask(0o022)
    try:
        store.update(lambda s: s.model_copy(update={"last_profile": "x"}))
    finally:
        os.umask(old_umask)
    mode = stat.S_IMODE(store.lock_path.stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)


def test_a_change_that_changes_nothing_does_not_write(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    store.update(lambda s: s.model_copy(update={"last_profile": "x"}))
    before = store.path.stat()

    store.update(lambda s: s.model_copy(update={"last_profile": "x"}))

    after = store.path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_file_damaged_meanwhile_is_set_aside_and_the_change_kept(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    held = Settings(profiles=[Profile(name="mine")])
    store.save(held)
    store.path.write_text("{ not json")

    saved = store.update(
        lambda s: s.model_copy(update={"last_profile": "mine"}), fallback=held
    )

    assert [p.name for p in saved.profiles] == ["mine"]
    assert _names_on_disk(store.path) == ["mine"]
    assert list(tmp_path.glob("settings.json.bad-*"))
    assert "not valid JSON" in (store.load_problem or "")


def test_a_start_while_another_process_holds_the_lock_reads_without_repairs(
    tmp_path,
):
    path = tmp_path / "settings.json"
    SettingsStore(path).save(Settings(profiles=[Profile(name="a")]))
    with _hold_the_lock(path) as holder:
        try:
            fine = SettingsStore(path, lock_timeout=0.3).load()
            path.write_text("{ not json")
            store = SettingsStore(path, lock_timeout=0.3)
            damaged = store.load()
        finally:
            holder.kill()

    assert [p.name for p in fine.profiles] == ["a"]
    assert damaged == Settings()
    assert path.read_text() == "{ not json"  # not moved while another changes it
    assert not list(tmp_path.glob("settings.json.bad-*"))
    assert store.read_only_reason is not None
