"""The limits a template renders within: time, work, and the size of everything it builds.

Jinja's sandbox keeps templates away from Python's internals, but not from building huge values:
`('a'*100000)|replace('a', 'a'*100000)` is ten billion characters, nested loops over `range`
run for hours, and a list holding one string a hundred thousand times prints as gigabytes. A
template renders one CRM field, so every render gets a budget (`render`):

* each value it builds (by an operator, a call, a filter, `~`, or printing) stays under
  `MAX_VALUE_CHARS`, checked *before* the work when the work is what would be huge (`replace`,
  `join`, `*`, widths in `format`/`%`/`center`...), so nothing oversized is ever allocated;
* all the characters it builds together stay under `MAX_BUILT_CHARS`, its output under
  `MAX_OUTPUT_CHARS`;
* loop iterations and calls together stay under `MAX_STEPS`, and the whole render under
  `MAX_RENDER_SECONDS` (a backstop: the step count already decides, the same way every time).

Breaking a limit fails the render with `TemplateLimitExceeded` (a `SecurityError`), which
`mappings check` reports at the field and line that broke it.
"""

from __future__ import annotations

import contextvars
import functools
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Template, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_REPEAT = 100_000  # characters or items `*` may build
MAX_EXPONENT = 64
MAX_INT_BITS = 4_096
MAX_VALUE_CHARS = 1_000_000
MAX_OUTPUT_CHARS = 1_000_000
MAX_BUILT_CHARS = 20_000_000
MAX_STEPS = 1_000_000
MAX_RENDER_SECONDS = 5.0

LOOP_FILTER = "_mapping_loop"
CONCAT_FILTER = "_mapping_concat"
_SIZED = (str, bytes, list, tuple, dict, set, frozenset)
# Filters whose number arguments are sizes of what they build (a width, a count).
_SIZING_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice", "fit"})
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


class TemplateLimitExceeded(SecurityError):
    """A template needed more time, work or memory than one CRM field may take."""


@dataclass
class _Budget:
    deadline: float
    steps: int = 0
    built: int = 0
    seconds: float = MAX_RENDER_SECONDS


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "template_budget", default=None
)


def _step() -> None:
    budget = _BUDGET.get()
    if budget is None:
        return
    budget.steps += 1
    if budget.steps > MAX_STEPS:
        raise TemplateLimitExceeded(f"more than {MAX_STEPS:,} loop iterations and calls")
    if time.monotonic() > budget.deadline:
        raise TemplateLimitExceeded(f"rendering took over {budget.seconds:g} s")


def size(value: Any, limit: int = MAX_VALUE_CHARS) -> int:
    """Characters and items `value` stands for once printed or joined (shared parts counted
    each time they appear), counted only until it passes `limit`."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if not isinstance(value, (list, tuple, dict, set, frozenset)):
        return 1
    total = 0
    pending: list[Any] = [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, dict):
            total += len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += len(item)
            pending.extend(item)
        else:
            total += 1
    return total


def _refuse_over(count: int, what: str, limit: int = MAX_VALUE_CHARS) -> None:
    if count > limit:
        raise TemplateLimitExceeded(f"{what} would be over {limit:,} characters or items")


def _built(value: Any) -> Any:
    """Count a value a template built against the budget; refuse it when too big."""
    if isinstance(value, _SIZED):
        count = size(value)
        _refuse_over(count, "a value")
        budget = _BUDGET.get()
        if budget is not None:
            budget.built += count
            if budget.built > MAX_BUILT_CHARS:
                raise TemplateLimitExceeded(f"built more than {MAX_BUILT_CHARS:,} characters")
    elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitExceeded(f"numbers above {MAX_INT_BITS} bits are not allowed")
    return value


def _check_widths(numbers: Iterable[str | None]) -> None:
    for number in numbers:
        if number == "*":
            raise TemplateLimitExceeded("a width given as `*` is not allowed")
        if number and int(number) > MAX_VALUE_CHARS:
            raise TemplateLimitExceeded(f"widths above {MAX_VALUE_CHARS:,} are not allowed")


def _check_percent_format(text: str) -> None:
    for match in _PERCENT_SPEC.finditer(text):
        _check_widths(match.groups())


def _check_brace_format(text: str) -> None:
    for _, _, spec, _ in string.Formatter().parse(text):
        if spec and "{" in spec:
            raise TemplateLimitExceeded("nested format specifications are not allowed")
        _check_widths(_DIGITS.findall(spec or ""))


def _replaced_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    if not all(isinstance(v, str) for v in (text, old, new)):
        return 0
    times = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    return len(text) + times * (len(new) - len(old))


def _joined_size(items: Any, separator: Any = "") -> int:
    if not isinstance(items, (list, tuple, set, frozenset, dict, str)):
        return 0  # a lazy sequence: its items were built (and counted) one by one
    gap = len(separator) if isinstance(separator, str) else 1
    return size(items) + gap * len(items)


def _check_sizes(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Number arguments that say how big a result is (`center(10**9)`) stay under the cap."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_VALUE_CHARS:
            raise TemplateLimitExceeded(f"sizes above {MAX_VALUE_CHARS:,} are not allowed")


def _precheck(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse, before it runs, a call or filter whose result would be oversized."""
    if name == "replace" and len(args) >= 3:
        _refuse_over(_replaced_size(*args[:4]), "the result of replace")
    elif name == "join" and args:
        _refuse_over(_joined_size(args[0], args[1] if len(args) > 1 else ""), "the joined text")
    elif name in ("sum", "string", "tojson", "pprint", "list", "format", "indent", "center"):
        _refuse_over(sum(size(a) for a in args), f"the input of {name}")
        if name == "format" and args and isinstance(args[0], str):
            _check_percent_format(args[0])


class MappingEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with every way of building a big value bounded."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_printed, **options)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters[LOOP_FILTER] = _loop
        self.filters[CONCAT_FILTER] = _concat

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _step()
        if operator == "**" and isinstance(right, (int, float)):
            if abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponents above {MAX_EXPONENT} are not allowed")
            if isinstance(left, int) and left.bit_length() * abs(right) > MAX_INT_BITS:
                raise TemplateLimitExceeded(f"numbers above {MAX_INT_BITS} bits are not allowed")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    if len(seq) * times > MAX_REPEAT:
                        raise SecurityError(f"repetition beyond {MAX_REPEAT} items is not allowed")
                    _refuse_over(size(seq) * times, "the repetition")
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_INT_BITS
            ):
                raise TemplateLimitExceeded(f"numbers above {MAX_INT_BITS} bits are not allowed")
        if operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
            _refuse_over(size(left) + size(right), "the concatenation")
        if operator == "%" and isinstance(left, str):
            _check_percent_format(left)
            _refuse_over(len(left) + size(right), "the formatted text")
        return _built(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _step()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, (str, bytes, int)) and not isinstance(owner, bool):
            # Methods of text and numbers take sizes (`ljust`, `zfill`, `to_bytes`...).
            _check_sizes(args, kwargs)
            _precheck(getattr(__obj, "__name__", ""), (owner, *args), kwargs)
        return _built(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_brace_format(value.__self__)
        return wrapped


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)  # keeps `jinja_pass_arg`: Jinja still passes the context first
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _step()
        values = args[1:] if hasattr(function, "jinja_pass_arg") else args
        if name in _SIZING_FILTERS:
            _check_sizes(values[1:], kwargs)
        _precheck(name, values, kwargs)
        return _built(function(*args, **kwargs))

    return bounded


def _loop(iterable: Any) -> Iterator[Any]:
    """Every `{% for %}` iterates through this: each iteration is a step."""
    for item in iterable:
        _step()
        yield item


def _concat(parts: list[Any]) -> str:
    """`a ~ b`: the parts are sized before they are turned into text."""
    _step()
    _refuse_over(sum(size(part) for part in parts), "the joined text")
    return str(_built("".join(str(part) for part in parts)))


def _printed(value: Any) -> Any:
    """Each `{{ … }}`: sized before Python turns it into text."""
    _refuse_over(size(value), "a printed value", MAX_OUTPUT_CHARS)
    return value


def guard(ast: nodes.Template) -> nodes.Template:
    """Route every loop and `~` of a parsed template through the budget."""
    for loop in ast.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [], [], None, None, lineno=loop.lineno)
    for concat in list(ast.find_all(nodes.Concat)):
        parts = nodes.List(concat.nodes, lineno=concat.lineno)
        replacement = nodes.Filter(parts, CONCAT_FILTER, [], [], None, None, lineno=concat.lineno)
        _replace_node(ast, concat, replacement)
    return ast


def _replace_node(tree: nodes.Node, old: nodes.Node, new: nodes.Node) -> None:
    for parent in tree.find_all(nodes.Node):
        for name, value in parent.iter_fields():
            if value is old:
                setattr(parent, name, new)
            elif isinstance(value, list) and any(item is old for item in value):
                setattr(parent, name, [new if item is old else item for item in value])


def render(template: Template, data: Mapping[str, Any]) -> str:
    """`template` rendered with `data` within one field's budget."""
    budget = _Budget(deadline=time.monotonic() + MAX_RENDER_SECONDS)
    token = _BUDGET.set(budget)
    try:
        pieces = []
        written = 0
        for piece in template.generate(data):
            written += len(piece)
            if written > MAX_OUTPUT_CHARS:
                raise TemplateLimitExceeded(f"the output is over {MAX_OUTPUT_CHARS:,} characters")
            pieces.append(piece)
        return "".join(pieces)
    finally:
        _BUDGET.reset(token)
