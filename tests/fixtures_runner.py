"""Fixtures for the run engine's tests.

(A step leaves files for the test in its own work dir, and the test finds its processes by a
marker: tests/step_files.py. When the stack runs as root a step sees the host's ``/``
read-only and has ``/tmp``, ``/var/tmp`` and ``/dev/shm`` of its own, so no shared exchange
directory exists.)
"""
