"""The layers stay light: the CLI never loads Qt, start-up paths load what they need."""

import subprocess
import sys
from pathlib import Path

import app
import app.cli.commands

CHECK = """
import sys
from app.cli import main
code = main(["run", "--plan", "nope", "--gateway", "https://gw.example.test", "--user", "1"])
assert code == 2, code
loaded = sorted(m for m in sys.modules if m.startswith(("PySide6", "shiboken6", "app.gui")))
print(",".join(loaded))
"""


def python_c(code, home, **env):
    """Run ``code`` in a fresh interpreter with only the given environment."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PLAN_RUNNER_HOME": str(home), "PATH": "", **env},
        timeout=60,
        check=False,
    )


def test_the_command_line_never_loads_qt(tmp_path):
    result = python_c(CHECK, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
    assert len(app.cli.commands.COMMAND_MODULES) >= 4


HEAVY = ("pydantic", "httpx", "httpcore", "keyring", "jwt", "sqlite3")

WINDOW_IMPORTS = """
import sys
import app.gui.main
late = ("app.core.settings", "app.core.workspace", "app.core.history",
        "app.core.diagnostics", "app.gui.history_view", "app.gui.status_panel",
        "app.gui.settings_dialog", "hashlib", "html.entities")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {heavy} or m in late)
print(",".join(loaded))
"""


def test_what_the_window_needs_to_show_imports_nothing_heavy(tmp_path):
    # The window is shown before the settings, the keyring and the history are
    # opened (off the GUI thread); importing any of them here delays it.
    code = WINDOW_IMPORTS.format(heavy=set(HEAVY))
    result = python_c(code, tmp_path, QT_QPA_PLATFORM="offscreen")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


RUN_IMPORTS = """
import sys
from app.cli import main
code = main(["run", "--gateway", "http://127.0.0.1:9", "--plan", "681", "--user", "1"])
assert code == 6, code  # nothing listens on the discard port: not sent
sys.stdout.flush()
sys.stderr.write("loaded:" + ",".join(sorted({m.split(".")[0] for m in sys.modules} & {"pydantic", "keyring"})))
"""


def test_a_run_with_a_gateway_url_imports_no_settings_models_and_no_keyring(tmp_path):
    result = python_c(RUN_IMPORTS, tmp_path, PLAN_RUNNER_TOKEN="abcdefgh12345678")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == "loaded:"


SOURCE_SCAN = """
import linecache, sys
import app.gui
import PySide6.QtCore  # from here on PySide looks at each new module
import app.core.settings, app.core.history, keyring
kept = [f for f in linecache.cache if "/app/core/" in f or "/keyring/" in f]
print(len(kept), *kept[:3])
"""


def test_modules_imported_after_qt_keep_no_source_in_memory(tmp_path):
    # PySide would read every later module's source into linecache to look for
    # "PySide6" in it: about 12 MB of the window's idle memory.
    result = python_c(SOURCE_SCAN, tmp_path, QT_QPA_PLATFORM="offscreen")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "0", result.stdout


def test_the_gui_asks_pyside_for_no_feature():
    # app.gui tells PySide that no module switches features (snake_case,
    # true_property); a module that did would be switched by nobody.
    root = Path(app.__file__).parent
    users = [p for p in root.rglob("*.py") if "__feature__" in p.read_text("utf-8")]
    assert users == [root / "gui" / "__init__.py"]
