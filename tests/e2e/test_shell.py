"""The shell's static contract, checked without a browser: every module is preloaded, the icons are real PNGs."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import httpx
import pytest

from server.assets import PWA_DIR
from tests.server_process import ServerProcess


@pytest.mark.e2e
def test_the_shell_has_one_module_script_and_the_worker_precaches_every_file(server: ServerProcess) -> None:
    html = httpx.get(server.base_url + "/").text
    worker = httpx.get(server.base_url + "/sw.js").text
    build = json.loads(worker.split("\n", 1)[0].removeprefix("const BUILD = ").removesuffix(";"))
    prefix = f"/static/{build['version']}"
    files = sorted(
        p.relative_to(PWA_DIR).as_posix() for p in PWA_DIR.rglob("*.*") if p.suffix in {".js", ".css", ".png"}
    )

    assert html.count("<script") == 1
    assert f'<script type="module" src="{prefix}/js/main.js"></script>' in html
    assert "style=" not in html
    assert {f"{prefix}/{f}" for f in files if f != "sw.js"} <= set(build["assets"])
    assert "/" in build["assets"]


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_manifest_icons_exist_with_their_declared_sizes() -> None:
    manifest = json.loads((PWA_DIR / "manifest.webmanifest").read_text())
    icons = manifest["icons"] + [icon for shortcut in manifest["shortcuts"] for icon in shortcut["icons"]]

    for icon in icons:
        width, height = (int(n) for n in icon["sizes"].split("x"))
        assert png_size(PWA_DIR / icon["src"]) == (width, height), icon["src"]
    assert {"any", "maskable"} <= {icon.get("purpose", "any") for icon in manifest["icons"]}
    assert [s["name"] for s in manifest["shortcuts"]] == ["New note"]
