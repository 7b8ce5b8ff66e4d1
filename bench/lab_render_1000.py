"""How fast the JupyterLab panel shows the Project tab with 1,000 pipelines.

Starts a real ``jupyter lab`` with the jupyter_dsp extension (embedded stack) on a free
port, uploads 1,000 pipelines into the project through the server extension, then drives
Debian's Chromium with Playwright and measures, in the page (``performance.now()``):

- open:    click on the panel's tab -> first rows and "1000 pipelines" rendered (a fresh page
           and workspace each time, so the panel has loaded nothing before: dsp/info, the
           first page of 100 and the runs are all fetched after the click)
- refresh: click on Refresh -> reloaded (dsp/info + first page) and rendered again
- search:  type a name into the search box -> the filtered list rendered (server-side filter;
           includes the search box's 250 ms debounce)
- scroll:  scroll to the end of the list -> all 1,000 loaded page by page and the last row shown

and, for comparison, the server-side cost of the first page alone (HTTP GET of 100
pipelines through the proxy). It prints medians with min/max and the number of row
elements in the DOM (the list is windowed: it stays small whatever the total).

    python bench/lab_render_1000.py [--pipelines 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lab_harness import (  # noqa: E402  (the tests' lab launcher)
    CHROMIUM,
    CHROMIUM_ARGS,
    PIPELINES,
    Lab,
    start_lab,
    stop_lab,
)

TARGET_MS = 1000.0

# what the panel shows, for the error message when a measurement times out
STATE_JS = """
const state = () => {
  const c = document.querySelector('.jp-DSP-count');
  const e = document.querySelector('.jp-DSP-error');
  const rows = document.querySelectorAll('.jp-DSP-pipeline').length;
  return `count=${c && c.outerHTML} rows=${rows} error=${e && e.textContent}`;
};
"""

OPEN_JS = """
async ({total}) => {
  %s
  const t0 = performance.now();
  // Lumino tab bars select on pointerdown, not on click
  const tab = document.querySelector('li.lm-TabBar-tab[data-id="jupyter-dsp-panel"]');
  const box = tab.getBoundingClientRect();
  const at = {bubbles: true, cancelable: true, button: 0, clientX: box.x + 5, clientY: box.y + 5};
  tab.dispatchEvent(new PointerEvent('pointerdown', at));
  tab.dispatchEvent(new PointerEvent('pointerup', at));
  tab.dispatchEvent(new MouseEvent('click', at));
  const done = () => {
    const count = document.querySelector('.jp-DSP-browser[data-space="project"] .jp-DSP-count');
    return count && count.getAttribute('data-count') === String(total)
      && !count.textContent.includes('Loading')
      && document.querySelectorAll('.jp-DSP-pipeline').length > 0;
  };
  while (!done()) {
    await new Promise(r => requestAnimationFrame(r));
    if (performance.now() - t0 > 30000) throw new Error('not rendered in 30 s: ' + state());
  }
  return performance.now() - t0;
}
"""

REFRESH_JS = """
async ({total}) => {
  %s
  const count = () => document.querySelector('.jp-DSP-browser[data-space="project"] .jp-DSP-count');
  // a mutation observer sees the "Loading…" state even when it lasts less than a frame
  let sawLoading = false;
  const observer = new MutationObserver(() => {
    const c = count();
    if (c && c.textContent.includes('Loading')) sawLoading = true;
  });
  observer.observe(document.querySelector('.jp-DSP-panel'), {
    subtree: true, childList: true, characterData: true
  });
  const t0 = performance.now();
  document.querySelector('.jp-DSP-header [data-action="refresh"]').click();
  for (;;) {
    await new Promise(r => requestAnimationFrame(r));
    const c = count();
    if (sawLoading && c && c.getAttribute('data-count') === String(total)
        && !c.textContent.includes('Loading')
        && document.querySelectorAll('.jp-DSP-pipeline').length > 0) break;
    if (performance.now() - t0 > 30000) throw new Error('not refreshed in 30 s: ' + state());
  }
  observer.disconnect();
  return performance.now() - t0;
}
"""

OPEN_JS = OPEN_JS.replace("%s", STATE_JS)
REFRESH_JS = REFRESH_JS.replace("%s", STATE_JS)

SEARCH_JS = """
async ({name}) => {
  const input = document.querySelector('.jp-DSP-browser[data-space="project"] .jp-DSP-search');
  const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  const t0 = performance.now();
  setter.call(input, name);
  input.dispatchEvent(new Event('input', {bubbles: true}));
  const done = () => {
    const rows = document.querySelectorAll('.jp-DSP-pipeline');
    const c = document.querySelector('.jp-DSP-browser[data-space="project"] .jp-DSP-count');
    return rows.length === 1 && rows[0].getAttribute('data-name') === name
      && c && c.getAttribute('data-count') === '1';
  };
  while (!done()) {
    await new Promise(r => requestAnimationFrame(r));
    if (performance.now() - t0 > 30000) throw new Error('search not rendered in 30 s');
  }
  const elapsed = performance.now() - t0;
  setter.call(input, '');
  input.dispatchEvent(new Event('input', {bubbles: true}));
  return elapsed;
}
"""

SCROLL_JS = """
async ({last}) => {
  const list = document.querySelector('.jp-DSP-browser[data-space="project"] .jp-DSP-vlist');
  const t0 = performance.now();
  for (;;) {
    list.scrollTop = list.scrollHeight;
    list.dispatchEvent(new Event('scroll'));
    await new Promise(r => requestAnimationFrame(r));
    if (document.querySelector(`.jp-DSP-pipeline[data-name="${last}"]`)) break;
    if (performance.now() - t0 > 60000) throw new Error('end of list not reached in 60 s');
  }
  return {ms: performance.now() - t0, rows: document.querySelectorAll('.jp-DSP-vrow').length};
}
"""


def seed(lab: Lab, count: int, prefix: str) -> float:
    path = PIPELINES / "critical" / "add_numbers.yaml"
    data = path.read_bytes()
    namespace = lab.info()["namespace"]
    session = requests.Session()
    session.headers.update(lab.headers)

    def upload(i: int) -> None:
        name = f"{prefix}-{i:04d}"
        response = session.post(
            lab.api("project", "pipelines/upload"),
            params={"name": name, "display_name": name, "namespace": namespace},
            files={"uploadfile": ("p.yaml", data, "application/yaml")},
            timeout=120,
        )
        if response.status_code != 200:
            raise RuntimeError(f"upload {name}: {response.status_code} {response.text[:200]}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(upload, range(count)))
    return time.perf_counter() - t0


def first_page_ms(lab: Lab, repeat: int) -> list[float]:
    namespace = lab.info()["namespace"]
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = lab.get(
            lab.api("project", "pipelines"),
            namespace=namespace,
            page_size=100,
            sort_by="name asc",
        )
        response.raise_for_status()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def fmt(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):7.1f} ms   min {min(values):7.1f}   "
        f"max {max(values):7.1f}   (n={len(values)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="dsp-bench-lab-") as tmp:
        lab = start_lab(Path(tmp))
        try:
            prefix = "bench"
            seconds = seed(lab, args.pipelines, prefix)
            print(f"seeded {args.pipelines} project pipelines in {seconds:.1f} s")
            api_ms = first_page_ms(lab, args.repeat)
            results: dict[str, list[float]] = {"open": [], "refresh": [], "search": []}
            scroll: list[dict[str, Any]] = []
            dom_rows: list[int] = []
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    for i in range(args.repeat):
                        context = browser.new_context(viewport={"width": 1400, "height": 900})
                        page = context.new_page()
                        # a fresh workspace each time: the default layout, panel never shown
                        page.goto(f"{lab.url}lab/workspaces/bench-{i}?token={lab.token}")
                        page.wait_for_selector(
                            "#jupyterlab-splash", state="detached", timeout=90_000
                        )
                        page.wait_for_selector(
                            'li.lm-TabBar-tab[data-id="jupyter-dsp-panel"]', timeout=30_000
                        )
                        total = {"total": args.pipelines}
                        assert page.locator(".jp-DSP-count").count() == 0, "panel already open"

                        results["open"].append(page.evaluate(OPEN_JS, total))
                        dom_rows.append(page.locator(".jp-DSP-vrow").count())
                        results["refresh"].append(page.evaluate(REFRESH_JS, total))
                        name = f"{prefix}-{(i * 197 + 500) % args.pipelines:04d}"
                        results["search"].append(page.evaluate(SEARCH_JS, {"name": name}))
                        if i == 0:
                            page.wait_for_function(
                                "n => document.querySelectorAll('.jp-DSP-pipeline').length > 1"
                                " && document.querySelector('.jp-DSP-browser .jp-DSP-count')"
                                "?.getAttribute('data-count') === String(n)",
                                arg=args.pipelines,
                            )
                            last = f"{prefix}-{args.pipelines - 1:04d}"
                            scroll.append(page.evaluate(SCROLL_JS, {"last": last}))
                            shot = ROOT / "tests" / "artifacts" / "lab_bench_1000.png"
                            shot.parent.mkdir(parents=True, exist_ok=True)
                            page.screenshot(path=str(shot))
                        context.close()
                finally:
                    browser.close()
        finally:
            stop_lab(lab)

    print(f"\nProject tab with {args.pipelines} pipelines (page size 100, windowed list):")
    print(f"  open panel -> rendered    {fmt(results['open'])}")
    print(f"  refresh -> rendered       {fmt(results['refresh'])}")
    print(f"  search one name (+250 ms debounce) {fmt(results['search'])}")
    print(f"  first page HTTP only      {fmt(api_ms)}")
    if scroll:
        print(
            f"  scroll to the end         {scroll[0]['ms']:7.1f} ms (all {args.pipelines} loaded,"
            f" {scroll[0]['rows']} row elements in the DOM)"
        )
    print(f"  row elements in the DOM after open: {sorted(set(dom_rows))}")
    ratio = statistics.median(results["open"]) / statistics.median(api_ms)
    print(f"  open / first-page-HTTP ratio: {ratio:.1f}x")
    verdict = "meets" if statistics.median(results["open"]) < TARGET_MS else "MISSES"
    print(f"  target < {TARGET_MS:.0f} ms: {verdict}")
    print(json.dumps({k: statistics.median(v) for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
