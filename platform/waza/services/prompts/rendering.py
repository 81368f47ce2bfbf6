"""Template rendering with Jinja2's sandbox: `{{ name }}` variables, no access to Python internals.

`variables(text)` names what a template needs; `render(text, values)` fills it in. A missing value
or a syntax error is a `BadRequest` naming the variable or the line, never a half-rendered text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from waza.errors import BadRequest

ELEMENTS = "elements"  # the name under which a template reaches the caller's elements


@lru_cache(maxsize=1)
def _env() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


def check(text: str) -> None:
    """400 with the line and message when `text` is not a valid template."""
    try:
        _env().parse(text)
    except TemplateSyntaxError as exc:
        raise BadRequest(f"Template syntax error on line {exc.lineno}: {exc.message}") from None


def variables(text: str) -> list[str]:
    """The names a template reads from its context, sorted (empty when it does not parse)."""
    try:
        return sorted(meta.find_undeclared_variables(_env().parse(text)))
    except TemplateSyntaxError:
        return []


def render(text: str, values: dict[str, Any]) -> str:
    """Fill in a template; every variable it reads must be in `values`."""
    check(text)
    missing = [name for name in variables(text) if name not in values]
    if missing:
        raise BadRequest(f"Missing template variable(s): {', '.join(missing)}")
    try:
        return _env().from_string(text).render(values)
    except UndefinedError as exc:  # e.g. a missing key or attribute of a given value
        raise BadRequest(f"Template variable error: {exc.message}") from None
    except SecurityError as exc:
        raise BadRequest(f"Template not allowed: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise BadRequest(f"Template error: {exc}") from None
