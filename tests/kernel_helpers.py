"""Helpers for the kernel-side tests (client, magics, widgets): pipelines and clients."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from jupyter_dsp.client import DSPClient


def pipeline_source(name: str, *, sleep: float = 0.0) -> str:
    """Python source of a small typed pipeline called ``name`` (two chained tasks)."""
    return textwrap.dedent(
        f'''
        from kfp import dsl

        @dsl.component(base_image="python:3.11")
        def add(a: int, b: float, sleep: float = {sleep}) -> float:
            import time
            time.sleep(sleep)
            print(f"adding {{a}} and {{b}}")
            return a + b

        @dsl.component(base_image="python:3.11")
        def report(total: float, label: str, flags: list) -> str:
            text = f"{{label}}: total={{total}} flags={{flags}}"
            print(text)
            return text

        @dsl.pipeline(name="{name}", description="test pipeline {name}")
        def pipeline(a: int, b: float = 0.5, label: str = "sum", flags: list = []):
            total = add(a=a, b=b)
            report(total=total.output, label=label, flags=flags)
        '''
    )


def write_pipeline(directory: Path, name: str, **options: Any) -> Path:
    path = directory / f"{name}.py"
    path.write_text(pipeline_source(name, **options))
    return path


def client_for(stack: Any, **options: Any) -> DSPClient:
    return DSPClient.from_endpoint(stack.url, stack.token, namespace="default", **options)
