"""``python -m jupyter_dsp ...``: the same as the ``jupyter-dsp`` console script."""

from jupyter_dsp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
