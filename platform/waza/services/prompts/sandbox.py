"""The Jinja2 sandbox prompts render in, and the worker process that runs it.

`python -m waza.services.prompts.sandbox` reads one JSON request per line on stdin
(`{"text": ..., "values": {...}}`) and answers one JSON line (`{"ok": bool, "result": str}`),
under a memory limit. `waza.services.prompts.rendering` keeps a few of these workers and kills
one that overruns its time. This module imports nothing but jinja2 and the standard library.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_CHARS = 1_000_000
WORKER_MEMORY_BYTES = 1 << 30


class Environment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, plus refusals of `*` and `**` that would build huge values."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 100:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sequence = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sequence and len(seq) * times > MAX_OUTPUT_CHARS:
                    raise SecurityError("repetition result too large")
        return super().call_binop(context, operator, left, right)


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def render_here(text: str, values: dict[str, Any]) -> tuple[bool, str]:
    """Render in this process: `(True, text)` or `(False, reason)`; output capped."""
    size, parts = 0, []
    try:
        for chunk in environment().from_string(text).generate(values):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                return False, f"Template output too long (over {MAX_OUTPUT_CHARS} characters)"
            parts.append(chunk)
    except UndefinedError as exc:  # e.g. a missing key or attribute of a given value
        return False, f"Template variable error: {exc.message}"
    except SecurityError as exc:
        return False, f"Template not allowed: {exc}"
    except MemoryError:
        return False, "Template needs too much memory"
    except RecursionError:
        return False, "Template recursion too deep"
    except Exception as exc:  # a user's template: any failure is theirs to fix
        return False, f"Template error: {type(exc).__name__}: {exc}"
    return True, "".join(parts)


def main() -> None:
    """The worker loop (ends when stdin closes)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            ok, result = render_here(str(request["text"]), dict(request["values"]))
        except (ValueError, KeyError, TypeError) as exc:
            ok, result = False, f"bad render request: {exc}"
        sys.stdout.write(json.dumps({"ok": ok, "result": result}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
