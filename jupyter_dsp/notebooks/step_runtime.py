"""What runs inside a notebook step. Its source is copied into the component's function (a
lightweight component carries only its function's source), so it imports nothing of
jupyter_dsp and only what the step installs: nbformat, nbclient, ipykernel, nbconvert.

Every name here starts with ``_dsp`` so it cannot shadow a component parameter.
"""

# ruff: noqa: ANN001, ANN201


def _dsp_run_notebook(packed, values, inputs, outputs, metrics, classification, results, files):
    import base64
    import json
    import os
    import sys
    import tempfile
    import time
    import zlib

    began = time.perf_counter()

    # The kernel is started first, so that its process boots (about a second: IPython's
    # import and the ZMQ handshake) while this one reads the notebook; nbconvert and its
    # template, for the HTML page made at the end, load in a thread while the cells run.
    # That thread starts once this one has imported all it needs: imports of nbconvert
    # beside IPython's (which the default kernel-spec search makes) failed now and then.
    import asyncio
    import threading

    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_path

    exporting = {}

    def load_exporter():
        try:
            from nbconvert import HTMLExporter

            # the cells without JupyterLab's 270 KB of inline CSS: a small page, read whole
            # by the panel's preview, made in a fraction of the time
            exporter = HTMLExporter(template_name="basic")
            # a first page compiles the templates and loads the Python lexer
            exporter.from_notebook_node(
                nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
            )
            exporting["exporter"] = exporter
        except Exception as exc:  # no nbconvert in the step's image
            exporting["error"] = exc

    loop = asyncio.new_event_loop()
    # The kernel's spec is looked for on the Jupyter path only: the default search also looks
    # in IPython's directory, whose import here (0.35 s) would delay the kernel's launch.
    km = AsyncKernelManager(
        kernel_name="python3",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=jupyter_path("kernels")),
    )
    # the history database of a step's kernel would only be written and thrown away
    loop.run_until_complete(
        km.start_kernel(cwd=os.getcwd(), extra_arguments=["--HistoryManager.hist_file=:memory:"])
    )

    # nbformat checks notebooks with jsonschema, whose import compiles the grammar of
    # rfc3987-syntax (about 1.2 s) wherever that package is installed (the Jupyter server's
    # environment has it through jupyter-events, and the embedded stack's step environments
    # layer over it). It serves only the "iri" format, which the notebook schema does not
    # use, so this process does without it; the notebook's kernel is a process of its own.
    sys.modules.setdefault("rfc3987_syntax", None)
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    def stop_kernel():
        loop.run_until_complete(km.shutdown_kernel(now=True))
        loop.close()

    try:
        nb = nbformat.reads(zlib.decompress(base64.b64decode(packed)).decode("utf-8"), 4)
    except BaseException:
        stop_kernel()
        raise
    p_index = next(
        (i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), None
    )
    o_index = next(
        (i for i, c in enumerate(nb.cells) if "outputs" in c.metadata.get("tags", [])), None
    )

    def cell(lines, tag):
        made = nbformat.v4.new_code_cell("\n".join(lines))
        made.metadata["tags"] = [tag]
        return made

    given = [f"{k} = {v!r}" for k, v in values.items()]
    given += [f"{k} = {v!r}" for k, v in inputs.items()]
    wanted = [f"{k} = {v!r}" for k, v in outputs.items()]
    back = tempfile.mktemp(suffix=".json")
    names = sorted([*results, *metrics, *classification])
    read_back = [
        "import json as _dsp_json",
        f"with open({back!r}, 'w') as _dsp_file:",
        f"    _dsp_json.dump({{n: globals().get(n) for n in {names!r}}}, _dsp_file, default=str)",
    ]
    injected = []  # (position in the user's notebook, cell); later positions first
    if wanted:
        injected.append(((o_index + 1) if o_index is not None else 0, cell(wanted, "outputs-set")))
    if given:
        injected.append(
            ((p_index + 1) if p_index is not None else 0, cell(given, "injected-parameters"))
        )
    user_index = list(range(len(nb.cells)))
    for position, made in sorted(injected, key=lambda x: -x[0]):
        nb.cells.insert(position, made)
        user_index.insert(position, None)
    nb.cells.append(cell(read_back, "outputs-read"))
    user_index.append(None)

    def save():
        nbformat.write(nb, files["executed"])
        loader.join()
        try:
            if "error" in exporting:
                raise exporting["error"]
            body, _ = exporting["exporter"].from_notebook_node(nb)
            style = (
                "body{font-family:sans-serif;margin:1em;max-width:1000px}"
                "pre{background:#f7f7f7;padding:.4em;overflow-x:auto;margin:.2em 0}"
                ".jp-InputPrompt,.jp-OutputPrompt{color:#888;font-size:80%}"
                ".jp-Cell{margin-bottom:.8em}"
                "[data-mime-type='application/vnd.jupyter.stderr'] pre{background:#fdecea}"
                "img{max-width:100%}table{border-collapse:collapse}"
                "td,th{border:1px solid #ddd;padding:2px 6px}"
                ".anchor-link{display:none}"
            )
            page = (
                "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
                f"<style>{style}</style></head><body>{body}</body></html>\n"
            )
        except Exception as exc:  # no nbconvert in the step's image, or it failed
            import html

            page = f"<pre>{html.escape(f'no HTML rendering: {exc}')}</pre>"
        with open(files["html"], "w", encoding="utf-8") as out:
            out.write(page)

    loader = threading.Thread(target=load_exporter, daemon=True)
    loader.start()
    client = NotebookClient(
        nb,
        km=km,
        kernel_name="python3",
        timeout=None,
        startup_timeout=120,
        resources={"metadata": {"path": os.getcwd()}},
    )
    started = time.perf_counter()
    try:
        try:
            loop.run_until_complete(client.async_execute())
        finally:
            if client.kc is not None:
                client.kc.stop_channels()
            stop_kernel()
    except CellExecutionError as exc:
        save()
        failed = next(
            (
                i
                for i, c in enumerate(nb.cells)
                if any(o.get("output_type") == "error" for o in c.get("outputs", []))
            ),
            None,
        )
        where = "a cell"
        if failed is not None:
            first = (nb.cells[failed].source.strip().splitlines() or [""])[0]
            number = user_index[failed]
            label = f"cell {number}" if number is not None else "an injected cell"
            where = f"{label} ({first[:80]!r})"
        print(str(exc), file=sys.stderr)
        ename = getattr(exc, "ename", "Error")
        evalue = getattr(exc, "evalue", "")
        raise RuntimeError(f"the notebook failed in {where}: {ename}: {evalue}") from None
    ran = time.perf_counter()
    save()
    print(
        f"[jupyter-dsp] notebook: prepared in {started - began:.2f} s, kernel and cells "
        f"{ran - started:.2f} s, saved with its HTML in {time.perf_counter() - ran:.2f} s",
        file=sys.stderr,
    )
    with open(back, encoding="utf-8") as f:
        got = json.load(f)
    for name, artifact in metrics.items():
        for key, value in (got.get(name) or {}).items():
            artifact.log_metric(str(key), float(value))
    for name, artifact in classification.items():
        data = got.get(name) or {}
        matrix = data.get("confusion_matrix")
        if matrix:
            artifact.log_confusion_matrix(list(matrix["categories"]), list(matrix["matrix"]))
        roc = data.get("roc")
        if roc:
            artifact.log_roc_curve(list(roc["fpr"]), list(roc["tpr"]), list(roc["thresholds"]))
    return tuple(got.get(name) for name in results)
