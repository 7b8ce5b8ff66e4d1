"""Trigger conditions of compiled pipelines (``triggerPolicy.condition``).

The KFP compiler writes ``dsl.If`` / ``dsl.Elif`` / ``dsl.Else`` conditions as CEL expressions
over the task's own input parameters, e.g.::

    inputs.parameter_values['pipelinechannel--flip-coin-Output'] == 'heads'
    !(int(inputs.parameter_values['pipelinechannel--n']) < 5000) && int(...) > 5000

The cluster's driver evaluates them with a CEL interpreter. This module evaluates the subset
the compiler emits, without ``eval``: literals (strings, numbers, ``true``/``false``/
``null``), ``inputs.parameter_values['name']``, the conversions ``int()``, ``double()``,
``string()`` and ``bool()``, comparison, ``!``, ``&&``, ``||``, unary minus and parentheses.
Anything else is a :class:`ConditionError` naming the expression.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)
    |(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    |(?P<op>&&|\|\||==|!=|<=|>=|[<>!()\[\].,-])
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


class ConditionError(ValueError):
    """A condition the engine cannot evaluate."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ConditionError(f"cannot read the condition {text!r} at {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(value)
    return int(str(value).strip())


def _to_double(value: Any) -> float:
    return float(value if isinstance(value, (int, float)) else str(value).strip())


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConditionError(f"bool({value!r}) is not a boolean")
    return bool(value)


_FUNCTIONS = {"int": _to_int, "double": _to_double, "string": _to_string, "bool": _to_bool}


def _equal(a: Any, b: Any) -> bool:
    # Numbers compare across int/double (CEL on protobuf Values: every number is a double).
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, bool) or isinstance(b, bool):
            return a is b if isinstance(a, bool) and isinstance(b, bool) else False
        return float(a) == float(b)
    return bool(a == b)


class _Parser:
    def __init__(self, text: str, values: dict[str, Any]) -> None:
        self.text = text
        self.items = _tokens(text)
        self.i = 0
        self.values = values

    def peek(self) -> tuple[str, str]:
        return self.items[self.i] if self.i < len(self.items) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise ConditionError(f"expected {value!r} in the condition {self.text!r}")
        self.i += 1
        return token

    def parse(self) -> Any:
        result = self.or_()
        if self.peek()[0] != "end":
            raise ConditionError(f"unexpected {self.peek()[1]!r} in the condition {self.text!r}")
        return result

    def or_(self) -> Any:
        left = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            left = _truth(left) or _truth(right)
        return left

    def and_(self) -> Any:
        left = self.compare()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.compare()
            left = _truth(left) and _truth(right)
        return left

    def compare(self) -> Any:
        left = self.unary()
        op = self.peek()
        if op[0] == "op" and op[1] in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            right = self.unary()
            if op[1] == "==":
                return _equal(left, right)
            if op[1] == "!=":
                return not _equal(left, right)
            try:
                return {
                    "<": lambda: left < right,
                    "<=": lambda: left <= right,
                    ">": lambda: left > right,
                    ">=": lambda: left >= right,
                }[op[1]]()
            except TypeError:
                raise ConditionError(
                    f"cannot compare {left!r} {op[1]} {right!r} in {self.text!r}"
                ) from None
        return left

    def unary(self) -> Any:
        token = self.peek()
        if token == ("op", "!"):
            self.take()
            return not _truth(self.unary())
        if token == ("op", "-"):
            self.take()
            return -self.unary()
        return self.primary()

    def primary(self) -> Any:
        kind, value = self.take()
        if kind == "num":
            return float(value) if any(c in value for c in ".eE") else int(value)
        if kind == "str":
            return _unquote(value)
        if (kind, value) == ("op", "("):
            inner = self.or_()
            self.take(")")
            return inner
        if kind == "name":
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            if value in _FUNCTIONS:
                self.take("(")
                arg = self.or_()
                self.take(")")
                try:
                    return _FUNCTIONS[value](arg)
                except (TypeError, ValueError) as exc:
                    raise ConditionError(f"{value}({arg!r}) failed in {self.text!r}") from exc
            if value == "inputs":
                self.take(".")
                field = self.take()[1]
                if field != "parameter_values":
                    raise ConditionError(f"inputs.{field} is not supported in {self.text!r}")
                self.take("[")
                key_kind, key = self.take()
                if key_kind != "str":
                    raise ConditionError(f"expected a quoted name in {self.text!r}")
                self.take("]")
                name = _unquote(key)
                if name not in self.values:
                    raise ConditionError(f"the condition reads '{name}', which has no value")
                return self.values[name]
        raise ConditionError(f"unexpected {value!r} in the condition {self.text!r}")


def _truth(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ConditionError(f"{value!r} is not a boolean")


def evaluate(condition: str, parameter_values: dict[str, Any]) -> bool:
    """The value of a trigger condition over the task's input parameters."""
    if not condition.strip():
        return True
    result = _Parser(condition, parameter_values).parse()
    return _truth(result)
