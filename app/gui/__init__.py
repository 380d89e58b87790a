"""The desktop face: PySide6 windows over the core.

Importing this package first turns off a costly habit of PySide's. Once QtCore
is loaded, PySide reads the whole source of every module imported after it, to
learn whether the module mentions ``PySide6`` and so might ask for
``from __feature__ import snake_case``; the sources then stay in
:mod:`linecache`. Here that is every module the window and its task helper
import after Qt (the settings models, the keyring backends, the history):
about 12 MB of idle memory, and time at every start. Plan Runner uses no
``__feature__`` (a test holds it to that), so each new module is simply
left out of PySide's feature switching, which is what the reading would
conclude for all but the GUI's own modules, and changes nothing while no
feature is on. If a later PySide no longer has the hook, nothing is changed.
"""

import sys

import PySide6  # noqa: F401 - loads the hook this module adjusts


def _skip_pyside_source_scan() -> None:
    feature = sys.modules.get("PySide6.support.feature")
    if feature is not None and callable(getattr(feature, "_mod_uses_pyside", None)):
        feature._mod_uses_pyside = lambda module: False  # type: ignore[attr-defined]


_skip_pyside_source_scan()
