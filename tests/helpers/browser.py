"""Pages opened the way a person opens them: headless Chromium (Debian's package), driven by Playwright.

Playwright comes from PyPI without its own browsers (their download host is not reachable everywhere): it drives
the system Chromium through ``executable_path``. Each page is loaded from its file:// URL and everything it asks
for is recorded: console errors, requests that failed, and requests that leave the machine (anything but file:,
data:, blob: and about:). A self-contained report has none of the three.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    """The system Chromium, or None (Debian: `apt-get install chromium`; .ci/run installs it)."""
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


@dataclass
class PageCheck:
    url: str
    title: str = ""
    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)
    frames: int = 0
    screenshot: Path | None = None

    @property
    def problems(self) -> list[str]:
        return [
            *(f"console error: {e}" for e in self.console_errors),
            *(f"failed request: {u}" for u in self.failed),
            *(f"remote request: {u}" for u in self.remote),
        ]


def check_pages(
    urls: list[str], screenshots: dict[str, Path] | None = None, width: int = 1280, height: int = 900
) -> list[PageCheck]:
    """Load each page (and its frames) in one headless Chromium; screenshot those named in ``screenshots``."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no system Chromium on PATH (Debian: apt-get install chromium)")
    checks = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            for url in urls:
                checks.append(_check(browser, url, (screenshots or {}).get(url), width, height))
        finally:
            browser.close()
    return checks


def _check(browser: object, url: str, shot: Path | None, width: int, height: int) -> PageCheck:
    result = PageCheck(url=url, screenshot=shot)
    page = browser.new_page(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
    page.on("console", lambda m: result.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: result.console_errors.append(str(e)))
    page.on("requestfailed", lambda r: result.failed.append(f"{r.url} ({r.failure})"))
    page.on("request", lambda r: None if r.url.startswith(LOCAL_SCHEMES) else result.remote.append(r.url))
    page.goto(url, wait_until="load")
    page.wait_for_timeout(1500)  # scripts that render after load (Evidently's) get their turn
    result.title = page.title()
    result.frames = len(page.frames)
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    page.close()
    return result
