"""A pipeline whose outputs try to run script wherever they are shown (issue 20).

``hostile`` has one task, ``hostile-report``, whose Markdown and HTML reports, output parameter,
a metric name, dataset rows and artifact metadata carry the classic payloads: ``<script>``,
``<img onerror>``, ``<svg onload>``, ``<details ontoggle>``, ``<input autofocus onfocus>``,
``<iframe srcdoc>`` (same origin when not sandboxed), ``<object>``/``<embed>``, a meta refresh,
and ``javascript:`` / ``vbscript:`` / ``data:`` links (HTML and Markdown syntax). Each payload
that ran would set ``window.__pwned``, change ``document.title`` to ``PWNED`` and ``alert``.
The texts come in as the pipeline's parameters (their defaults), so the run's parameters carry
them too; the run's own display name can carry :data:`RUN_NAME`.

(No ``from __future__ import annotations``: kfp reads the component's annotations.)
"""

import json

from kfp import dsl  # type: ignore[import-untyped]
from kfp.dsl import HTML, Dataset, Markdown, Metrics, Output  # type: ignore[import-untyped]

TASK = "hostile-report"
# what a payload does when it runs (a browser test looks for each effect)
JS = "window.__pwned=1;document.title='PWNED';alert('pwned')"
PAYLOADS = [
    f"<script>{JS}</script>",
    f'<img src="x" onerror="{JS}">',
    f'<svg onload="{JS}"><circle r="5"/></svg>',
    f'<details open ontoggle="{JS}"><summary>details</summary>x</details>',
    f'<input autofocus onfocus="{JS}">',
    "<iframe srcdoc=\"<script>parent.__pwned=1;parent.document.title='PWNED';"
    "parent.alert('pwned')</script>\"></iframe>",
    f'<object data="javascript:{JS}"></object><embed src="javascript:{JS}">',
    f'<meta http-equiv="refresh" content="0;url=javascript:{JS}">',
    f'<form action="javascript:{JS}"><button formaction="javascript:{JS}">send</button></form>',
    f'<a id="js-link" href="javascript:{JS}">javascript link</a>',
    f'<a href="JaVaScRiPt&#x3A;{JS}">entity link</a>',
    '<a href="vbscript:msgbox(1)">vbscript link</a>',
    f'<a href="data:text/html,<script>{JS}</script>">data link</a>',
    f'<style>@import "javascript:{JS}";</style>',
]
MARKDOWN = (
    "# Hostile report\n\n"
    "[markdown javascript link](javascript:window.__pwned=1)\n\n"
    '![markdown image](x" onerror="window.__pwned=1)\n\n'
    "[a fine link](https://example.com/report)\n\n" + "\n\n".join(PAYLOADS) + "\n"
)
HTML_REPORT = "<h1>Hostile HTML</h1>" + "".join(PAYLOADS)
VALUE = f'<img src="x" onerror="{JS}">'
CSV = f'"<img src=x onerror=""{JS}"">",b\n1,"<script>{JS}</script>"\n'
RUN_NAME = f'<img src="x" onerror="{JS}">run'
# one JSON parameter (no line breaks: KFP's compiled-YAML header repeats each default in a
# comment line, which a multi-line default breaks)
TEXTS = json.dumps({"markdown": MARKDOWN, "html": HTML_REPORT, "csv": CSV})


@dsl.component(base_image="python:3.11")
def hostile_report(
    texts: str,
    value: str,
    markdown: Output[Markdown],
    report: Output[HTML],
    metrics: Output[Metrics],
    rows: Output[Dataset],
) -> str:
    """Writes what it is given as reports, a metric name, a dataset and metadata."""
    import json

    given = json.loads(texts)
    with open(markdown.path, "w") as f:
        f.write(given["markdown"])
    with open(report.path, "w") as f:
        f.write(given["html"])
    metrics.log_metric(value, 1.0)
    metrics.log_metric("fine", 2.0)
    rows.metadata["note"] = value
    with open(rows.path, "w") as f:
        f.write(given["csv"])
    return value


@dsl.pipeline(name="hostile-outputs")
def hostile(texts: str = TEXTS, value: str = VALUE) -> str:
    return hostile_report(texts=texts, value=value).outputs["Output"]
