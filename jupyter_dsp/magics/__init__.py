"""IPython side: ``%load_ext jupyter_dsp`` registers the ``%dsp`` line magic."""

from jupyter_dsp.magics.dsp_magic import DSPMagic, load_ipython_extension

__all__ = ["DSPMagic", "load_ipython_extension"]
