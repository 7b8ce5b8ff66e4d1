"""RunMonitor: a run's live state, polled on a background thread so the kernel stays free."""

from __future__ import annotations

import threading
from collections.abc import Callable
from html import escape
from typing import Any, ClassVar

import ipywidgets as widgets

from jupyter_dsp.client import DSPClient, DSPError, Run
from jupyter_dsp.client.render import badge, clipped, duration, state_colour
from jupyter_dsp.widgets.dag import Node, graph_from_spec, render_svg
from jupyter_dsp.widgets.results import ResultsView


class RunMonitor(widgets.VBox):
    """State, progress (tasks done of total), task DAG coloured by state, elapsed time,
    a task's log on click, and a terminate button. Polling stops when the run ends."""

    # What "Run again" opens: a RunForm filled from this run. The form shows a RunMonitor once
    # it submits, so this module does not import it: jupyter_dsp/widgets/__init__.py sets
    # widgets.run_again.run_again_form here (the package is imported before any of its modules).
    again_form: ClassVar[Callable[..., Any] | None] = None

    def __init__(
        self,
        client: DSPClient,
        run: Run | str,
        *,
        poll_interval: float = 1.0,
        autostart: bool = True,
    ) -> None:
        self.client = client
        self.run = run if isinstance(run, Run) else client.get_run(str(run))
        self.run_id = self.run.id
        self.poll_interval = poll_interval
        self.selected_task: str | None = None
        self.errors = 0
        self._nodes: list[Node] = []
        self._spec: dict[str, Any] | None = None
        self._log_offset = 0
        self._log_text = ""
        self._log_task_id: str | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self.finished = threading.Event()
        self._thread: threading.Thread | None = None

        self.header = widgets.HTML()
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, description="tasks", bar_style="info"
        )
        self.progress_label = widgets.Label()
        self.graph = widgets.HTML()
        self.task_buttons = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.log_view = widgets.HTML(
            layout=widgets.Layout(width="100%", max_height="24em", overflow="auto")
        )
        self.terminate_button = widgets.Button(
            description="Terminate", button_style="danger", icon="stop"
        )
        self.terminate_button.on_click(lambda _: self.terminate())
        # "Run again": a run form filled with this run's version and parameters
        self.again_button = widgets.Button(description="Run again", icon="redo")
        self.again_button.on_click(lambda _: self.run_again())
        self.again_box = widgets.VBox()
        self.status = widgets.HTML()
        # each task's outputs as it ends; a clicked task's inputs, outputs and artifacts
        self.outputs_view = ResultsView(client, self.run_id, self.run.name)
        super().__init__(
            [
                self.header,
                widgets.HBox(
                    [self.progress, self.progress_label, self.terminate_button, self.again_button]
                ),
                self.graph,
                self.task_buttons,
                self.log_view,
                self.outputs_view,
                self.status,
                self.again_box,
            ]
        )
        self._show(self.run)
        if autostart:
            self.start()

    # ---- polling ------------------------------------------------------------------------

    def start(self) -> None:
        """Start polling in the background (no-op if already polling or the run is over)."""
        if self._thread is not None and self._thread.is_alive():
            return
        if self.run.done:
            self._final()
            return
        self._stop.clear()
        self.finished.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"dsp-monitor-{self.run_id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (the widget keeps showing the last state)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    @property
    def polling(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> Run:
        """Block until polling ended (the run finished, or stop()); return the last state."""
        self.finished.wait(timeout)
        return self.run

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    run = self.refresh()
                except DSPError as exc:  # e.g. the stack restarting: keep trying, slower
                    self.errors += 1
                    self.status.value = f'<span style="color:#c62828">{escape(str(exc))}</span>'
                    run = self.run
                except Exception as exc:  # a bug must not die silently in a thread
                    self.status.value = (
                        '<span style="color:#c62828">Monitor stopped: '
                        f"{escape(type(exc).__name__)}: {escape(str(exc))}</span>"
                    )
                    break
                if run.done:
                    break
                pause = self.poll_interval * (min(self.errors, 5) + 1 if self.errors else 1)
                self._stop.wait(pause)
        finally:
            self._final()

    def _final(self) -> None:
        self.terminate_button.disabled = True
        self.terminate_button.button_style = ""  # grey: nothing left to terminate
        self.outputs_view.update(self.run)
        self.finished.set()

    def refresh(self) -> Run:
        """Poll once and update every part of the widget."""
        run = self.client.get_run(self.run_id)
        if self.errors:
            self.errors = 0
            self.status.value = ""
        with self._lock:
            self.run = run
            self._show(run)
            if self.selected_task is not None:
                self._update_log(initial=False)
        self.outputs_view.update(run)
        return run

    # ---- rendering --------------------------------------------------------------------------

    def _show(self, run: Run) -> None:
        if self._spec is None:
            self._spec = self.client.run_spec(run) if run.pipeline_id or run.spec else None
        # The root DAG of the spec gives the graph; without a spec, the run's own tasks do.
        nodes = graph_from_spec(self._spec)
        if not nodes:
            nodes = graph_from_spec(None, [t.name for t in run.tasks])
        if [n.label for n in nodes] != [n.label for n in self._nodes]:
            self._nodes = nodes
            self._build_buttons()
        states = self.task_states()
        error = f'<br><span style="color:#c62828">{escape(run.error)}</span>' if run.error else ""
        self.header.value = (
            f"<b>{clipped(run.name, '32em')}</b> {badge(run.state)} "
            f"<small>elapsed {escape(duration(run.elapsed()))} &middot; "
            f"<code>{escape(run.id)}</code></small>{error}"
        )
        total = max(len(self._nodes), 1)
        done = sum(1 for n in self._nodes if states.get(n.label) in _DONE)
        if run.state == "SUCCEEDED":
            done = total
        self.progress.max = total
        self.progress.value = min(done, total)
        self.progress.bar_style = {"SUCCEEDED": "success", "FAILED": "danger"}.get(
            run.state, "warning" if run.state in ("CANCELED", "CANCELING") else "info"
        )
        self.progress_label.value = f"{min(done, total)}/{total} done"
        self.graph.value = render_svg(self._nodes, states, self.selected_task)
        for button in self.task_buttons.children:
            state = states.get(button.description, "PENDING")
            button.style.button_color = state_colour(state)
            button.tooltip = f"{button.description}: {state} (click for its log)"
        self.terminate_button.disabled = run.done
        self.terminate_button.button_style = "" if run.done else "danger"

    def task_states(self) -> dict[str, str]:
        """State of each task by name (tasks the run has not reached yet are absent)."""
        states: dict[str, str] = {}
        # tasks of the root DAG first: a nested task may carry the same name
        for task in sorted(self.run.tasks, key=lambda t: bool(t.parent_id)):
            states.setdefault(task.name, task.state)
        return states

    def _build_buttons(self) -> None:
        buttons = []
        for node in self._nodes:
            button = widgets.Button(description=node.label, layout=widgets.Layout(width="auto"))
            button.style.text_color = "white"
            button.on_click(lambda b: self.select_task(b.description))
            buttons.append(button)
        self.task_buttons.children = buttons

    # ---- actions ----------------------------------------------------------------------------

    def select_task(self, name: str) -> str:
        """Show the log of task ``name`` (kept up to date while the run goes on)."""
        with self._lock:
            self.selected_task = name
            self._log_text = ""
            self._log_offset = 0
            self._log_task_id = None
            self._update_log(initial=True)
            self.outputs_view.show_task(name)
            self.graph.value = render_svg(self._nodes, self.task_states(), name)
            return self._log_text

    def _update_log(self, *, initial: bool) -> None:
        name = self.selected_task
        task = self.run.task(name) if name else None
        if task is None:
            self.log_view.value = f"<i>{escape(name or '')}: not started yet.</i>"
            return
        if task.id != self._log_task_id:
            self._log_task_id, self._log_text, self._log_offset = task.id, "", 0
        try:
            # only new bytes, a few chunks per poll; far behind: jump to the tail. The widget
            # (and so a saved notebook) keeps MONITOR_LOG_BYTES of text at most.
            for _ in range(8):
                chunk = self.client.log_chunk(self.run_id, task.id, self._log_offset)
                if chunk.size is not None and chunk.size - self._log_offset > 2 * MONITOR_LOG_BYTES:
                    self._log_offset, self._log_text = chunk.size - MONITOR_LOG_BYTES, ""
                    continue
                self._log_text = (self._log_text + chunk.text)[-MONITOR_LOG_BYTES:]
                moved = chunk.next_offset > self._log_offset
                self._log_offset = max(self._log_offset, chunk.next_offset)
                if not chunk.text or not moved or chunk.complete:
                    break
        except DSPError as exc:
            self.log_view.value = f'<span style="color:#c62828">{escape(str(exc))}</span>'
            return
        body = escape(self._log_text) if self._log_text else "<i>(no output yet)</i>"
        if self._log_offset > len(self._log_text.encode()):
            body = (
                f"<i>[earlier output not shown: <code>%dsp logs {escape(self.run_id)} "
                f"{escape(task.name)} --start 0</code>]</i>\n{body}"
            )
        self.log_view.value = (
            f"<b>{escape(task.name)}</b> {badge(task.state)}"
            f'<pre style="font-size:0.85em;margin:4px 0">{body}</pre>'
        )

    def run_again(self) -> Any:
        """Open a RunForm with this run's version and parameters below the monitor."""
        make_form = RunMonitor.again_form
        if make_form is None:
            return None
        try:
            form = make_form(self.client, self.run, poll_interval=self.poll_interval)
        except DSPError as exc:
            self.status.value = f'<span style="color:#c62828">{escape(str(exc))}</span>'
            return None
        self.again_box.children = [form]
        return form

    def terminate(self) -> None:
        """Ask the stack to terminate the run; the poller shows it ending."""
        try:
            run = self.client.terminate(self.run_id)
        except DSPError as exc:
            self.status.value = f'<span style="color:#c62828">{escape(str(exc))}</span>'
            return
        with self._lock:
            self.run = run
            self._show(run)
        self.status.value = "Termination requested."
        if not self.polling and not run.done:
            self.start()


# the most log text the monitor holds and shows (widget state is saved in the notebook)
MONITOR_LOG_BYTES = 256 * 1024
_DONE = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED", "CACHED"})
