"""The console's vendored libraries are exactly what its lock file gives, byte for byte."""

from __future__ import annotations

import hashlib
import json
import re

from graph.console import FRONTEND_DIR

VENDOR = FRONTEND_DIR / "vendor"
MANIFEST = VENDOR / "SHA256SUMS"
STATIC_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]""", re.M)


def manifest_entries() -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in MANIFEST.read_text(encoding="utf-8").splitlines():
        digest, path = line.split("  ", 1)
        assert re.fullmatch(r"[0-9a-f]{64}", digest), line
        entries[path] = digest
    return entries


def test_vendored_files_match_the_manifest() -> None:
    entries = manifest_entries()
    present = {path.relative_to(VENDOR).as_posix() for path in VENDOR.rglob("*") if path.is_file()}
    assert present == {*entries, "SHA256SUMS"}
    for path, digest in entries.items():
        assert hashlib.sha256((VENDOR / path).read_bytes()).hexdigest() == digest, path


def test_libraries_are_pinned_exactly_and_locked() -> None:
    package = json.loads((FRONTEND_DIR / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((FRONTEND_DIR / "package-lock.json").read_text(encoding="utf-8"))
    pins = package["dependencies"]
    assert set(pins) == {"htm", "graphql-ws"}
    for name, version in pins.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), name
        locked = lock["packages"][f"node_modules/{name}"]
        assert locked["version"] == version
        assert locked["integrity"].startswith("sha512-")
    assert package["scripts"]["vendor"] == "node scripts/vendor.mjs"
    assert {path.split("/", 1)[0] for path in manifest_entries()} == set(pins)


def test_vendored_modules_load_in_a_browser_as_they_are() -> None:
    for path in manifest_entries():
        if not path.endswith(".js"):
            continue
        text = (VENDOR / path).read_text(encoding="utf-8")
        imports = STATIC_IMPORT.findall(text)
        assert all(specifier.startswith("./") for specifier in imports), path
        assert "eval(" not in text, path
        assert "new Function" not in text, path
