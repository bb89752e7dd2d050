"""The Jinja2 sandbox idflow renders workflow and stage templates in, with bounds on size and time.

jinja2's sandbox stops escapes, not exhaustion: ``{{ 'A' * 2000000000 }}``, a string doubled in a loop
with ``~`` and nested ``range()`` loops each ran for minutes or ran out of memory. Here every
``*``/``+``/``**`` and ``~`` result is checked before it is built, ``range()`` is capped, the output is
collected chunk by chunk up to a limit, and a wall-clock budget is checked on every call, attribute
access, operator and output chunk (and, in the main thread, by a timer signal, for loops that do none
of those). There is no loader: ``{% include %}`` and ``{% import %}`` cannot read files.
"""

from __future__ import annotations

import operator
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import Concat

MAX_OUTPUT_CHARS = 10 * 1024 * 1024  # of a rendered template (workflow files are limited to 5 MB)
MAX_VALUE_CHARS = 10 * 1024 * 1024  # of one string or list made by an operator
MAX_RANGE = 100_000
TIME_BUDGET_SECONDS = 10.0


class TemplateLimit(jinja2.TemplateError):
    """A template went beyond a size or time bound."""


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: Concat, frame: Frame) -> None:  # ``a ~ b``: checked before joining
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(jinja2.sandbox.SandboxedEnvironment):
    """A ``SandboxedEnvironment`` with strict undefined variables and the bounds above."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "+", "**"})

    def __init__(self, **options: Any):
        options.setdefault("undefined", jinja2.StrictUndefined)
        options.setdefault("autoescape", False)
        super().__init__(**options)
        self.globals["range"] = self._range
        self.deadline: float | None = None

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TemplateLimit(f"the template took longer than {TIME_BUDGET_SECONDS:g} s to render")

    def _range(self, *args: int) -> range:
        span = range(*args)
        if len(span) > MAX_RANGE:
            raise TemplateLimit(f"range() of more than {MAX_RANGE:,} items")
        return span

    def bounded_join(self, parts: tuple[Any, ...]) -> str:
        self.check_time()
        texts = [str(part) for part in parts]
        if sum(map(len, texts)) > MAX_VALUE_CHARS:
            raise TemplateLimit(f"a string longer than {MAX_VALUE_CHARS:,} characters")
        return "".join(texts)

    def call_binop(self, context: jinja2.runtime.Context, operator_name: str, left: Any, right: Any) -> Any:
        self.check_time()
        if operator_name == "*":
            for seq, times in ((left, right), (right, left)):
                size = _length(seq)
                if size is not None and isinstance(times, int) and size * times > MAX_VALUE_CHARS:
                    raise TemplateLimit(f"a value longer than {MAX_VALUE_CHARS:,} characters or items")
        elif operator_name == "+":
            sizes = (_length(left), _length(right))
            if None not in sizes and sum(sizes) > MAX_VALUE_CHARS:  # type: ignore[arg-type]
                raise TemplateLimit(f"a value longer than {MAX_VALUE_CHARS:,} characters or items")
        elif operator_name == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
            bits = abs(left).bit_length() * right
            if bits > 8 * MAX_VALUE_CHARS:
                raise TemplateLimit("a power too large")
        return _BINOPS[operator_name](left, right)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        self.check_time()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.check_time()
        return super().getitem(obj, argument)

    def render(self, template: jinja2.Template, variables: Mapping[str, Any]) -> str:
        """``template`` rendered with ``variables``, within the output and time bounds."""
        chunks: list[str] = []
        total = 0
        with self.budget():
            stream: Iterator[str] = template.generate(variables)
            for chunk in stream:
                total += len(chunk)
                if total > MAX_OUTPUT_CHARS:
                    raise TemplateLimit(f"the rendered template is larger than {MAX_OUTPUT_CHARS // (1024 * 1024)} MB")
                chunks.append(chunk)
                self.check_time()
        return "".join(chunks)

    @contextmanager
    def budget(self) -> Iterator[None]:
        """The time budget for what runs inside (a render, or a compiled expression called)."""
        self.deadline = time.monotonic() + TIME_BUDGET_SECONDS
        alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
        previous: Any = None
        if alarm:
            previous = signal.getsignal(signal.SIGALRM)
            if previous not in (signal.SIG_DFL, signal.SIG_IGN, None):
                alarm = False  # someone else's timer: leave it alone (the checks above still hold)
        if alarm:
            signal.signal(signal.SIGALRM, self._on_alarm)
            signal.setitimer(signal.ITIMER_REAL, TIME_BUDGET_SECONDS + 0.5)
        try:
            yield
        finally:
            self.deadline = None
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)

    def _on_alarm(self, _signum: int, _frame: Any) -> None:
        raise TemplateLimit(f"the template took longer than {TIME_BUDGET_SECONDS:g} s to render")


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {"*": operator.mul, "+": operator.add, "**": operator.pow}
