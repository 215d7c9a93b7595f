"""Measures the PWA against its targets, on a real `keeptabs serve` and Debian's Chromium.

- Capture-ready time: navigation start -> `New note` focused, offline (served by the service worker), Pixel 7
  emulation, at 1x and with the CPU throttled 4x (target < 300 ms). Baseline in the same run and conditions: the
  app's own icon opened as a document through the worker, the floor any page has here; ratios are against it.
- JS + CSS bytes the page transfers, gzipped by the server (target <= 50 KB).
- Lighthouse mobile scores for performance, accessibility, best practices (target 100 each), first visit: the
  median of --lighthouse-runs runs, with total blocking time.
- With --screenshots: phone and laptop, light and dark, into docs/screenshots/.

Usage: .venv/bin/python bench/bench_pwa.py [--runs 15] [--screenshots] [--no-lighthouse] [--lighthouse-runs 3]
Lighthouse comes from npm, installed on first use into ~/.cache/keeptabs-bench (never into the repository).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server_process import ServerProcess  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
LIGHTHOUSE_DIR = Path(os.environ.get("KEEPTABS_BENCH_NODE", "~/.cache/keeptabs-bench")).expanduser()
LIGHTHOUSE_VERSION = "12.8.2"
SCREENSHOTS = ROOT / "docs" / "screenshots"
RESULTS = ROOT / "bench" / "results"
READY = "() => performance.getEntriesByName('capture-ready')[0]?.startTime ?? null"
LOADED = "() => performance.getEntriesByType('navigation')[0]?.loadEventEnd || null"
SAMPLE_NOTES = [
    "Ask Dana about the summer internship\nShe mentioned the robotics team is hiring in June.",
    "Career fair: booth 14\nRobotics startup, talk to Sam. Bring two printed CVs.",
    "Buy the train ticket home",
    "Book recommendations\nThe Pragmatic Programmer; Designing Data-Intensive Applications",
]


def sign_up(page: Page, base_url: str) -> None:
    page.goto(base_url)
    page.get_by_label("Email").fill(f"bench-{uuid.uuid4().hex[:8]}@example.org")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    page.get_by_label("New note").wait_for()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")


def timed_loads(page: Page, url: str, runs: int, until: str) -> list[float]:
    """Navigates to `url` runs times (after one warm-up); `until` reads the milestone, in ms from navigation start."""
    times: list[float] = []
    for run in range(runs + 1):
        page.goto(url)
        page.wait_for_function(until)
        if run:
            times.append(page.evaluate(until))
    return times


def capture_ready(browser: Browser, playwright: Playwright, base_url: str, runs: int) -> dict[str, list[float]]:
    """Offline loads, timed from navigation start to the focus of `New note`, at 1x and 4x CPU.

    Baseline, same conditions: the app's own SVG icon opened as a document (also served by the service worker), to
    its load event: the floor any page has on this machine and browser.
    """
    context = browser.new_context(**playwright.devices["Pixel 7"])
    page = context.new_page()
    sign_up(page, base_url)
    icon = page.eval_on_selector(".brand img", "img => img.src")
    context.set_offline(True)
    cdp = context.new_cdp_session(page)
    times: dict[str, list[float]] = {}
    for label, rate in (("1x", 1), ("4x", 4)):
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
        times[f"baseline_{label}"] = timed_loads(page, icon, runs, LOADED)
        times[label] = timed_loads(page, base_url, runs, READY)
        assert page.evaluate("() => document.activeElement.id") == "new-note"
    context.close()
    return times


def transferred_assets(browser: Browser, base_url: str) -> dict[str, int]:
    """Bytes on the wire (gzipped by the server) for each JS and CSS file of a first visit."""
    context = browser.new_context(service_workers="block")
    page = context.new_page()
    sizes: dict[str, int] = {}

    def record(response: Any) -> None:
        url = response.url
        if url.endswith((".js", ".css")) and "/static/" in url:
            sizes[url.split("/static/", 1)[1].split("/", 1)[1]] = response.request.sizes()["responseBodySize"]

    page.on("response", record)
    page.goto(base_url, wait_until="networkidle")
    context.close()
    return sizes


def ensure_lighthouse() -> Path:
    binary = LIGHTHOUSE_DIR / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        LIGHTHOUSE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", f"lighthouse@{LIGHTHOUSE_VERSION}"],
            cwd=LIGHTHOUSE_DIR,
            check=True,
            capture_output=True,
        )
    return binary


def lighthouse_once(binary: Path, base_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        subprocess.run(
            [
                str(binary),
                base_url,
                "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
                "--only-categories=performance,accessibility,best-practices",
                "--output=json",
                f"--output-path={report_path}",
                "--quiet",
            ],
            env={**os.environ, "CHROME_PATH": CHROMIUM},
            check=True,
            capture_output=True,
            timeout=180,
        )
        return json.loads(report_path.read_text())  # type: ignore[no-any-return]


def lighthouse(base_url: str, runs: int) -> dict[str, Any]:
    """Lighthouse mobile, first visit, `runs` times: one run swings with whatever else the machine is doing."""
    binary = ensure_lighthouse()
    reports = [lighthouse_once(binary, base_url) for _ in range(runs)]
    scores = [{key: round(cat["score"] * 100) for key, cat in r["categories"].items()} for r in reports]
    failing = sorted(
        {
            audit["id"]
            for r in reports
            for audit in r["audits"].values()
            if audit.get("score") is not None and audit["score"] < 1 and audit.get("scoreDisplayMode") == "binary"
        }
    )
    metrics = ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time")
    return {
        "median_scores": {key: statistics.median(s[key] for s in scores) for key in scores[0]},
        "performance_each_run": [s["performance"] for s in scores],
        "failing_audits": failing,
        "median_metrics_ms": {
            k: round(statistics.median(r["audits"][k]["numericValue"] for r in reports), 1) for k in metrics
        },
        "total_blocking_time_each_run_ms": [round(r["audits"]["total-blocking-time"]["numericValue"]) for r in reports],
    }


def screenshots(browser: Browser, playwright: Playwright, base_url: str) -> list[Path]:
    """What a new user sees first: the sign-in screen, then a few notes, on a phone and a laptop."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    devices = {"phone": playwright.devices["Pixel 7"], "laptop": {"viewport": {"width": 1280, "height": 800}}}
    for scheme in ("light", "dark"):
        for name, options in devices.items():
            context = browser.new_context(**options, color_scheme=scheme)
            page = context.new_page()
            page.goto(base_url)
            page.get_by_role("button", name="Sign in").and_(page.locator(":enabled")).wait_for()
            shots.append(SCREENSHOTS / f"{name}-sign-in-{scheme}.png")
            page.screenshot(path=shots[-1])
            sign_up(page, base_url)
            for text in SAMPLE_NOTES:
                page.get_by_label("New note").fill(text)
                page.get_by_role("button", name="Done").click()
            page.get_by_role("status").filter(has_text="Synced").wait_for()
            page.get_by_label("New note").focus()
            shots.append(SCREENSHOTS / f"{name}-notes-{scheme}.png")
            page.screenshot(path=shots[-1])
            page.get_by_role("listitem").filter(has_text="Career fair").get_by_role("button").click()
            page.get_by_role("button", name="Remind me").click()
            shots.append(SCREENSHOTS / f"{name}-editor-{scheme}.png")
            page.screenshot(path=shots[-1])
            context.close()
    return shots


def summary(times: dict[str, list[float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, values in times.items():
        out[f"median_{label}"] = round(statistics.median(values), 1)
        out[f"p90_{label}"] = round(statistics.quantiles(values, n=10)[-1], 1)
    out["ratio_4x_to_baseline_4x"] = round(out["median_4x"] / out["median_baseline_4x"], 2)
    out["ratio_1x_to_baseline_1x"] = round(out["median_1x"] / out["median_baseline_1x"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--screenshots", action="store_true")
    parser.add_argument("--no-lighthouse", action="store_true")
    parser.add_argument("--lighthouse-runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as data_dir, ServerProcess({"KEEPTABS_DATA_DIR": data_dir}) as server:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            sizes = transferred_assets(browser, server.base_url)
            results["js_css_transferred_bytes"] = sum(sizes.values())
            results["js_css_files"] = len(sizes)
            results["capture_ready_ms"] = summary(capture_ready(browser, playwright, server.base_url, args.runs))
            if args.screenshots:
                results["screenshots"] = [
                    str(p.relative_to(ROOT)) for p in screenshots(browser, playwright, server.base_url)
                ]
            browser.close()
        if not args.no_lighthouse:
            results["lighthouse_mobile"] = lighthouse(server.base_url, args.lighthouse_runs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pwa.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
