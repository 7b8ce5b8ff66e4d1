"""Pure helpers the server extension and the kernel share: spec diff, display of values,
links out, token scrubbing, managed pipelines. They import nothing else of jupyter_dsp."""
