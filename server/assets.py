"""The PWA's files: one content hash versions them all, so they can be cached forever."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"
# Served at fixed root URLs instead of under the versioned prefix.
ROOT_FILES = {"sw.js", "manifest.webmanifest"}
SKIPPED_SUFFIXES = {".md", ".txt"}


class Assets:
    def __init__(self, root: Path = PWA_DIR) -> None:
        self.root = root

    @cached_property
    def files(self) -> list[str]:
        """Paths under pwa/ that the app loads, relative and sorted."""
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and not p.name.startswith(".") and p.suffix not in SKIPPED_SUFFIXES
        )

    @cached_property
    def version(self) -> str:
        digest = hashlib.sha256()
        for name in self.files:
            digest.update(name.encode() + b"\0" + (self.root / name).read_bytes() + b"\0")
        return digest.hexdigest()[:12]

    @property
    def prefix(self) -> str:
        return f"/static/{self.version}"

    @cached_property
    def precache(self) -> list[str]:
        static = [f"{self.prefix}/{name}" for name in self.files if name not in ROOT_FILES]
        return ["/", "/manifest.webmanifest", *static]

    @cached_property
    def service_worker(self) -> str:
        build = json.dumps({"version": self.version, "assets": self.precache})
        source = (self.root / "sw.js").read_text() if (self.root / "sw.js").exists() else ""
        return f"const BUILD = {build};\n{source}"

    @cached_property
    def manifest(self) -> dict[str, object]:
        path = self.root / "manifest.webmanifest"
        manifest: dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
        for icon in _icons(manifest):
            if "src" in icon and not str(icon["src"]).startswith("/"):
                icon["src"] = f"{self.prefix}/{icon['src']}"
        return manifest


def _icons(manifest: dict[str, object]) -> list[dict[str, object]]:
    icons = list(manifest.get("icons", []))  # type: ignore[call-overload]
    for shortcut in manifest.get("shortcuts", []):  # type: ignore[attr-defined]
        icons.extend(shortcut.get("icons", []))
    return icons
