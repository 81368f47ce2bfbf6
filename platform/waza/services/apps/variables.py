"""App environment: reserved and unsafe keys, and the template variables waza substitutes.

Template variables (in env values, ``x-waza.process`` fields and compose environment):
``{app_path_url}`` the app's public URL (``<public>/apps/<id>/``), ``{app_path}`` its path,
``{openai_base_url}`` the chosen model deployment's OpenAI base URL as the app reaches it
(the API directly), ``{openai_path_base_url}`` the same through the public path route,
``{model_path_url}`` the public runtime URL of the deployment (``.../runtime/models/<id>``).
Unknown ``{...}`` text is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from waza.errors import BadRequest
from waza.services.apps.spec import ENV_KEY

MODEL_VARIABLES = ("openai_base_url", "openai_path_base_url", "model_path_url")
APP_VARIABLES = ("app_path_url", "app_path")
VARIABLES = APP_VARIABLES + MODEL_VARIABLES
_VARIABLE = re.compile(r"\{(" + "|".join(VARIABLES) + r")\}")
_INTERPOLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Set by the platform for every app: a deployment may not override them.
RESERVED_KEYS = frozenset(
    {"PORT", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "APP_PATH", "APP_URL"}
)
RESERVED_PREFIXES = ("WAZA_", "KAMIWAZA_", "JUPYTERHUB_")
# Would change what code the app process loads: refused too.
UNSAFE_KEYS = frozenset(
    {"PATH", "HOME", "SHELL", "BASH_ENV", "ENV", "IFS", "NODE_OPTIONS", "PERL5LIB", "PERL5OPT",
     "RUBYOPT", "GCONV_PATH", "JAVA_TOOL_OPTIONS"}
)  # fmt: skip
UNSAFE_PREFIXES = ("LD_", "DYLD_", "PYTHON", "RAY_")
# A variable that picks the model deployment the app talks to (id or model name).
MODEL_SELECTOR = "MODEL_DEPLOYMENT"


def check_env(env: Mapping[str, str], where: str = "env_vars") -> None:
    """400 for a malformed, reserved or unsafe key."""
    for key in env:
        if not ENV_KEY.match(key):
            raise BadRequest(f"{where}: {key!r} is not a valid environment variable name")
        upper = key.upper()
        if upper in RESERVED_KEYS or upper.startswith(RESERVED_PREFIXES):
            raise BadRequest(
                f"{where}: {key} is reserved: the platform sets it for every app "
                f"(reserved: {', '.join(sorted(RESERVED_KEYS))}, {', '.join(RESERVED_PREFIXES)}*)"
            )
        if upper in UNSAFE_KEYS or upper.startswith(UNSAFE_PREFIXES):
            raise BadRequest(
                f"{where}: {key} is not allowed: it changes which code the app process loads"
            )


def uses_model(texts: list[str]) -> bool:
    """Whether any of these strings uses a model variable."""
    return any(f"{{{name}}}" in t for t in texts for name in MODEL_VARIABLES)


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace the known ``{variable}`` names; a model variable without a model is a 400."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise BadRequest(
                f"this template uses {{{name}}} but no model deployment was chosen: pass "
                f"env_vars {{'{MODEL_SELECTOR}': '<deployment id or model name>'}}"
            )
        return values[name]

    return _VARIABLE.sub(one, text)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose-style ``${VAR}`` from the app's environment (unknown: empty)."""
    return _INTERPOLATE.sub(lambda m: env.get(m.group(1), ""), text)
