"""A stand-in keyring for bench_cli.py's ``--profile`` runs: a JSON file, no D-Bus.

This machine has no Secret Service, and ``plan-runner run --profile`` reads the
profile's gateway URL from the keyring, so the bench points keyring at this
backend (``PYTHON_KEYRING_BACKEND=bench_keyring.FileKeyring``, with this folder
on ``PYTHONPATH``). The file is ``$BENCH_KEYRING_FILE``, in the bench's own
temporary folder; it only ever holds the simulator's public demo token.

It leaves out what a real Secret Service costs (secretstorage, jeepney and the
D-Bus round trips), so the figure it gives is a floor for the profile path.
"""

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    """Secrets in one JSON file named by ``BENCH_KEYRING_FILE``."""

    priority = 1

    @property
    def _file(self) -> Path:
        return Path(os.environ["BENCH_KEYRING_FILE"])

    def _entries(self) -> dict[str, str]:
        try:
            return json.loads(self._file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._entries().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        entries = self._entries()
        entries[f"{service}/{username}"] = password
        self._file.write_text(json.dumps(entries), encoding="utf-8")

    def delete_password(self, service: str, username: str) -> None:
        entries = self._entries()
        if entries.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError(username)
        self._file.write_text(json.dumps(entries), encoding="utf-8")
