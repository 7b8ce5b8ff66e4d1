"""The jupyter-dsp Jupyter server extension (see :mod:`jupyter_dsp.server.extension`)."""
