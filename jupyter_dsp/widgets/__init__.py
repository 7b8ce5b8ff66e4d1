"""ipywidgets for pipelines: browser, run form and live run monitor.

Only stock ipywidgets 8 controls and plain HTML/SVG: no JupyterLab-only front-end code, so they
work in JupyterLab, classic Notebook and VS Code.
"""

from jupyter_dsp.widgets.browser import PipelineBrowser, PipelineRow
from jupyter_dsp.widgets.run_again import run_again_form
from jupyter_dsp.widgets.run_form import RunForm
from jupyter_dsp.widgets.run_monitor import RunMonitor

# a monitor's "Run again" opens a run form, and a run form shows a monitor once it submits
RunMonitor.again_form = run_again_form

__all__ = ["PipelineBrowser", "PipelineRow", "RunForm", "RunMonitor"]
