"""GPU check for serving (run by ``benchmarks/gpu_check.sh`` on one NVIDIA H100/H200).

1. builds a random-weights Llama (``--hidden`` wide, ``--layers`` deep; real loading code, output
   is noise) with the tiny model's tokenizer;
2. **direct**: the ``transformers`` engine on ``cuda`` in this process, streamed answers of
   ``--tokens`` tokens: tokens/s;
3. **Ray Serve**: a local Ray head with the GPU, the same engine inside waza's replica class
   (``EngineReplica``, one replica, ``num_gpus=1``), the same answers through a Serve handle:
   tokens/s, and the ratio to direct;
4. **fractional placement**: two replicas with ``num_gpus=0.5`` each; both must become RUNNING on
   the one card (their ``CUDA_VISIBLE_DEVICES`` and torch device are reported) and answer.

Prints one JSON object (also written to ``--json``). Exit 0 when every step passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def build_model(dest: Path, hidden: int, layers: int) -> Path:
    """A random Llama of the requested size that loads like any Hugging Face folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from waza.services.models.tiny import build_tiny_chat_model

    tiny = build_tiny_chat_model(dest.parent / "tiny")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tiny)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 4,
        num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 256), max_position_embeddings=4096,
    )  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.generation_config.suppress_tokens = list(tokenizer.all_special_ids)
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


async def stream_tokens(stream: Any) -> int:
    count = 0
    async for item in stream:
        if isinstance(item, dict) and "usage" in item:
            count = int(item["usage"]["completion_tokens"])
        elif hasattr(item, "completion_tokens") and item.completion_tokens is not None:
            count = item.completion_tokens
    return count


async def rate(make: Any, runs: int) -> float:
    tokens, seconds = 0, 0.0
    for _ in range(runs):
        start = time.perf_counter()
        tokens += await stream_tokens(make())
        seconds += time.perf_counter() - start
    return tokens / seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("gpu_check.json"))
    parser.add_argument(
        "--cpu-dry-run", action="store_true", help="check the script on a CPU (no GPU numbers)"
    )
    args = parser.parse_args()
    gpu = 0.0 if args.cpu_dry_run else 1.0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throw-away local cluster

    import torch

    result: dict[str, Any] = {"ok": False, "cuda": torch.cuda.is_available()}
    if not torch.cuda.is_available() and not args.cpu_dry_run:
        result["error"] = "no CUDA device visible to torch"
        print(json.dumps(result))
        return 1
    result["device"] = "cpu" if args.cpu_dry_run else torch.cuda.get_device_name(0)

    import ray
    from ray import serve

    from waza.services.serving.engines import get_engine
    from waza.services.serving.engines.base import EngineSpec, SamplingParams
    from waza.services.serving.replica import EngineReplica

    prompt = [{"role": "user", "content": "Write a long story."}]
    params = SamplingParams(max_tokens=args.tokens, temperature=0)
    body = {"model": "x", "messages": prompt, "max_tokens": args.tokens, "temperature": 0,
            "stream": True}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="waza-gpu-") as tmp:
        path = build_model(Path(tmp) / "model", args.hidden, args.layers)
        spec = EngineSpec(
            engine="transformers", model_path=str(path), model_name="gpu-check",
            device="cpu" if args.cpu_dry_run else "cuda", num_cpus=1, num_gpus=gpu,
            options={"dtype": "bfloat16"},
        )  # fmt: skip
        engine = get_engine("transformers")(spec)
        asyncio.run(rate(lambda: engine.chat_stream(prompt, params), 1))  # warm-up
        direct = asyncio.run(rate(lambda: engine.chat_stream(prompt, params), args.runs))
        engine.close()
        if gpu:
            torch.cuda.empty_cache()
        result["direct_tokens_per_s"] = direct

        ray.init(num_cpus=4, num_gpus=int(gpu), include_dashboard=False, logging_level="ERROR")
        serve.start(proxy_location="Disabled")
        spec_dict = {**spec.__dict__}
        one: Any = serve.deployment(EngineReplica, name="engine", ray_actor_options={
            "num_cpus": 1, "num_gpus": gpu})  # fmt: skip
        handle = serve.run(one.bind(spec_dict, "gpu-check"), name="gpu-one", route_prefix=None)

        async def through_serve(runs: int) -> float:
            return await rate(lambda: handle.options(stream=True).chat_stream.remote(body), runs)

        asyncio.run(through_serve(1))
        served = asyncio.run(through_serve(args.runs))
        result["serve_tokens_per_s"] = served
        result["serve_vs_direct"] = served / direct
        serve.delete("gpu-one")

        half_spec = {**spec_dict, "num_gpus": gpu / 2}
        two: Any = serve.deployment(
            EngineReplica, name="engine", num_replicas=2,
            ray_actor_options={"num_cpus": 1, "num_gpus": gpu / 2},
        )  # fmt: skip
        started = time.monotonic()
        handle2 = serve.run(two.bind(half_spec, "gpu-half"), name="gpu-half", route_prefix=None)
        status = serve.status().applications["gpu-half"].deployments["engine"]
        result["fractional"] = {
            "replicas_running": status.replica_states.get("RUNNING", 0),
            "seconds_to_running": time.monotonic() - started,
        }
        infos = {}
        for _ in range(20):  # the router spreads calls over both replicas
            info = handle2.info.remote().result()
            infos[info["pid"]] = info
        result["fractional"]["replicas_answering"] = len(infos)
        result["fractional"]["devices"] = sorted({i["device"] for i in infos.values()})
        serve.delete("gpu-half")
        ray.shutdown()
    result["ok"] = (
        result["serve_vs_direct"] > 0
        and result["fractional"]["replicas_running"] == 2
        and result["fractional"]["replicas_answering"] == 2
    )
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
