"""Compute the ``Depends:`` of the .deb: the declared list and what the bundle links.

Usage: ``python packaging/deb_depends.py BUNDLE_DIR "DECLARED, DEPENDS"``.

``dpkg-shlibdeps`` reads every ELF file of the bundle and names the system packages
(with minimum versions) whose libraries they link. Packages whose library the
bundle carries itself (Python's OpenSSL, SQLite, libffi) are left out. The declared
list comes first and keeps its alternatives (``a | b``); a package that both name
keeps the version ``dpkg-shlibdeps`` found.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

# Loaded only where present: the gtk3 theme plugin needs GTK, which GNOME has.
OPTIONAL_ELF = ("libqgtk3.so",)
CONTROL = "Source: plan-runner\n\nPackage: plan-runner\nArchitecture: any\n"


def elf_files(bundle: Path) -> list[Path]:
    """Return the ELF files of the bundle, but the optional plugins."""
    found = []
    for path in sorted(bundle.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.name in OPTIONAL_ELF:
            continue
        with path.open("rb") as stream:
            if stream.read(4) == b"\x7fELF":
                found.append(path)
    return found


def linked_packages(bundle: Path) -> list[str]:
    """Return ``dpkg-shlibdeps``' dependencies of the bundle, one per package."""
    files = elf_files(bundle)
    private = sorted({f"-l{path.parent}" for path in files})
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "debian").mkdir()
        (Path(scratch) / "debian" / "control").write_text(CONTROL, encoding="utf-8")
        result = subprocess.run(  # noqa: S603 - a fixed tool and our own files
            ["dpkg-shlibdeps", "-O", "--ignore-missing-info", "--warnings=0"]
            + private
            + [str(path) for path in files],
            cwd=scratch,
            capture_output=True,
            text=True,
            check=True,
        )
    line = next(
        (x for x in result.stdout.splitlines() if x.startswith("shlibs:Depends=")), ""
    )
    return [entry.strip() for entry in line.partition("=")[2].split(",") if entry]


def bundled_packages(bundle: Path) -> set[str]:
    """Return the system packages whose libraries the bundle carries a copy of."""
    names = {
        path.name
        for path in bundle.rglob("lib*.so*")
        if path.is_file() and not path.is_symlink()
    }
    cache = subprocess.run(
        ["/sbin/ldconfig", "-p"], capture_output=True, text=True, check=True
    ).stdout
    packages = set()
    for name in names:
        match = re.search(rf"^\s*{re.escape(name)} .*=> (\S+)$", cache, re.MULTILINE)
        if not match:
            continue
        owner = subprocess.run(  # noqa: S603
            ["dpkg", "-S", str(Path(match.group(1)).resolve())],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        if owner.returncode == 0:
            packages.add(owner.stdout.split(":", 1)[0])
    return packages


def merge(declared: list[str], linked: list[str], bundled: set[str]) -> list[str]:
    """Return the declared entries, then the linked ones that add something."""
    result = list(declared)
    for entry in linked:
        name = entry.split()[0].split(":")[0]
        if name in bundled:
            continue
        same = [
            i for i, d in enumerate(result) if d.split()[0] == name and "|" not in d
        ]
        if same:
            result[same[0]] = entry if "(" in entry else result[same[0]]
        elif not any(re.search(rf"(^|\|\s*){re.escape(name)}\b", d) for d in result):
            result.append(entry)
    return result


def main(argv: list[str]) -> int:
    """Print the merged ``Depends:`` value."""
    if len(argv) != 2:
        sys.stderr.write(__doc__ or "")
        return 2
    bundle = Path(argv[0]).resolve()
    declared = [entry.strip() for entry in argv[1].split(",") if entry.strip()]
    depends = merge(declared, linked_packages(bundle), bundled_packages(bundle))
    sys.stdout.write(", ".join(depends) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
