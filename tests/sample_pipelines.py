"""Small pipelines shared by the run tests and bench/runs_latency.py (compiled where used)."""

from kfp import dsl


@dsl.component(base_image="python:3.11")
def add(a: int, b: int) -> int:
    print(f"adding {a} and {b}")
    return a + b


@dsl.pipeline(name="adder")
def adder(a: int, b: int = 10) -> int:
    return add(a=a, b=b).output


@dsl.component(base_image="python:3.11")
def sleeper(pid_file: str) -> None:
    """Sleeps with a child process, its pid written to ``pid_file`` (a relative name: in the
    step's work dir), which also marks the child: terminate must end both."""
    import subprocess
    import sys
    import time

    # the pid file's name marks the child on the host (its pid here is its namespace's)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", pid_file])
    with open(pid_file, "w") as f:
        f.write(f"{child.pid}\n")
    time.sleep(600)


@dsl.pipeline(name="sleepy")
def sleepy(pid_file: str) -> None:
    sleeper(pid_file=pid_file)
