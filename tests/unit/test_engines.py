"""The inference engines in-process (no Ray): tiny random model, MiniLM, SmolLM2 with llama.cpp.

Each engine is loaded once per module. Calls run under `asyncio.run`, a fresh event loop each
time, as a Serve replica's loop would call them.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import shutil
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from waza.services.models.tiny import build_tiny_chat_model
from waza.services.serving.engines import (
    ENGINES,
    Delta,
    EngineError,
    EngineSpec,
    Generation,
    SamplingParams,
    get_engine,
    select_engine,
)
from waza.services.serving.engines.embedding import EmbeddingEngine
from waza.services.serving.engines.llamacpp import LlamaCppEngine
from waza.services.serving.engines.streaming import StopMatcher
from waza.services.serving.engines.transformers import TransformersEngine
from waza.services.serving.engines.vllm import VllmEngine

HELLO = [{"role": "user", "content": "Hello there, how are you?"}]
GREEDY = SamplingParams(max_tokens=24, temperature=0)
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def deltas(stream: AsyncIterator[Delta]) -> list[Delta]:
    return [d async for d in stream]


async def wait_idle(engine: TransformersEngine | LlamaCppEngine, timeout: float = 10) -> float:
    started = time.monotonic()
    while engine.busy:
        assert time.monotonic() - started < timeout, "generation did not stop"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def tiny(tiny_chat_model: Path) -> Iterator[TransformersEngine]:
    engine = TransformersEngine(EngineSpec("transformers", str(tiny_chat_model), "tiny"))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def minilm(minilm_path: Path) -> Iterator[EmbeddingEngine]:
    engine = EmbeddingEngine(EngineSpec("embedding", str(minilm_path), "minilm"))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf: Path) -> Iterator[LlamaCppEngine]:
    pytest.importorskip("llama_cpp")
    options = {"n_ctx": 2048, "system_prompt": "You are a helpful assistant."}
    engine = LlamaCppEngine(EngineSpec("llamacpp", str(smollm2_gguf), "smollm2", options=options))
    yield engine
    engine.close()


# -- transformers (tiny random model) ---------------------------------------------------------


def test_tiny_chat_and_complete_respect_max_tokens(tiny: TransformersEngine) -> None:
    chat = run(tiny.chat(HELLO, GREEDY))
    assert chat.text
    assert chat.prompt_tokens > 5
    assert (chat.completion_tokens, chat.finish_reason) == (24, "length")
    done = run(tiny.complete("Once upon a time", SamplingParams(max_tokens=7, temperature=0)))
    assert done.text
    assert (done.completion_tokens, done.finish_reason) == (7, "length")
    assert done.prompt_tokens > 0


def test_tiny_stream_concatenates_to_the_whole_answer(tiny: TransformersEngine) -> None:
    whole = run(tiny.chat(HELLO, GREEDY))
    pieces = run(deltas(tiny.chat_stream(HELLO, GREEDY)))
    assert len([p for p in pieces if p.text]) >= 5
    assert "".join(p.text for p in pieces) == whole.text
    assert all(p.finish_reason is None for p in pieces[:-1])
    last = pieces[-1]
    assert (last.finish_reason, last.completion_tokens) == ("length", 24)
    assert last.prompt_tokens == whole.prompt_tokens
    streamed = run(deltas(tiny.complete_stream("Once", GREEDY)))
    assert "".join(p.text for p in streamed) == run(tiny.complete("Once", GREEDY)).text


def test_tiny_seed_makes_sampling_repeatable(tiny: TransformersEngine) -> None:
    def sample(seed: int) -> str:
        params = SamplingParams(max_tokens=16, temperature=1.0, seed=seed)
        return run(tiny.chat(HELLO, params)).text

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)


def test_tiny_stop_string_ends_the_answer(tiny: TransformersEngine) -> None:
    text = run(tiny.chat(HELLO, SamplingParams(max_tokens=40, temperature=0))).text
    stop = text[20:24]
    expected = text[: text.index(stop)]
    params = SamplingParams(max_tokens=40, temperature=0, stop=["never-there", stop])
    gen = run(tiny.chat(HELLO, params))
    assert (gen.text, gen.finish_reason) == (expected, "stop")
    assert gen.completion_tokens < 40
    pieces = run(deltas(tiny.chat_stream(HELLO, params)))
    assert "".join(p.text for p in pieces) == expected
    assert pieces[-1].finish_reason == "stop"


def test_tiny_closing_a_stream_stops_generation(tiny: TransformersEngine) -> None:
    async def scenario() -> tuple[int, float]:
        before = tiny.tokens_generated
        stream = tiny.chat_stream(HELLO, SamplingParams(max_tokens=100_000, temperature=0))
        got = 0
        async for delta in stream:
            got += bool(delta.text)
            if got == 3:
                break
        await stream.aclose()
        waited = await wait_idle(tiny)
        return tiny.tokens_generated - before, waited

    generated, waited = run(scenario())
    assert generated < 200  # of up to ~2000 (the model's context)
    assert waited < 5
    assert run(tiny.chat(HELLO, GREEDY)).completion_tokens == 24  # still serving


def test_tiny_cancelling_the_consumer_stops_generation(tiny: TransformersEngine) -> None:
    async def scenario() -> int:
        before = tiny.tokens_generated

        async def consume() -> None:
            async for _ in tiny.complete_stream("x", SamplingParams(max_tokens=100_000)):
                await asyncio.sleep(0)

        task = asyncio.create_task(consume())
        while tiny.tokens_generated == before and not tiny.busy:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_idle(tiny)
        return tiny.tokens_generated - before

    assert run(scenario()) < 1000


def test_tiny_concurrent_calls_are_served_one_by_one(tiny: TransformersEngine) -> None:
    async def scenario() -> tuple[Generation, list[Delta], Generation, Generation, list[Delta]]:
        return await asyncio.gather(
            tiny.chat(HELLO, GREEDY),
            deltas(tiny.chat_stream(HELLO, GREEDY)),
            tiny.complete("abc", SamplingParams(max_tokens=5, temperature=0.8, seed=1)),
            tiny.chat(HELLO, GREEDY),
            deltas(tiny.complete_stream("abc", SamplingParams(max_tokens=3))),
        )

    first, streamed, completed, again, short = run(scenario())
    assert first == again
    assert "".join(d.text for d in streamed) == first.text
    assert completed.completion_tokens == 5
    assert short[-1].completion_tokens == 3


def test_tiny_options_cap_tokens_and_add_system_prompt(tiny_chat_model: Path) -> None:
    options = {"max_new_tokens": 4, "system_prompt": "Be brief."}
    engine = TransformersEngine(
        EngineSpec("transformers", str(tiny_chat_model), "t", options=options)
    )
    gen = run(engine.chat(HELLO, SamplingParams(max_tokens=50, temperature=0)))
    assert (gen.completion_tokens, gen.finish_reason) == (4, "length")
    plain = TransformersEngine(EngineSpec("transformers", str(tiny_chat_model), "t"))
    assert gen.prompt_tokens > run(plain.chat(HELLO, GREEDY)).prompt_tokens


def test_tiny_prompt_longer_than_the_context_is_a_request_error(tiny: TransformersEngine) -> None:
    long = "stop words " * 3000
    with pytest.raises(EngineError) as err:
        run(tiny.complete(long, GREEDY))
    assert err.value.code == "INVALID_REQUEST"
    assert "context" in err.value.message


def test_tiny_does_not_embed(tiny: TransformersEngine) -> None:
    with pytest.raises(EngineError) as err:
        run(tiny.embed(["x"]))
    assert err.value.code == "UNSUPPORTED_OPERATION"


def test_list_content_parts_are_joined(tiny: TransformersEngine) -> None:
    content = [{"type": "text", "text": "Hello there, "}, {"type": "text", "text": "how are you?"}]
    parts: list[dict[str, Any]] = [{"role": "user", "content": content}]
    assert run(tiny.chat(parts, GREEDY)) == run(tiny.chat(HELLO, GREEDY))
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    with pytest.raises(EngineError) as err:
        run(tiny.chat(image, GREEDY))
    assert err.value.code == "UNSUPPORTED_OPERATION"


def test_tiny_model_folder_is_labelled_and_built_once(
    tiny_chat_model: Path, tmp_path: Path
) -> None:
    config = json.loads((tiny_chat_model / "config.json").read_text())
    assert config["waza_note"] == "random weights: output is noise, for tests"
    assert config["architectures"] == ["LlamaForCausalLM"]
    generation = json.loads((tiny_chat_model / "generation_config.json").read_text())
    assert config["eos_token_id"] in generation["suppress_tokens"]  # it never stops by itself
    started = time.monotonic()
    assert build_tiny_chat_model(tiny_chat_model) == tiny_chat_model  # complete: nothing to do
    assert time.monotonic() - started < 1
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a tiny model"):
        build_tiny_chat_model(foreign)
    assert [p.name for p in tmp_path.iterdir()] == ["foreign"]  # no temporary folder left


# -- embedding (all-MiniLM-L6-v2) -------------------------------------------------------------


def test_embedding_vectors_are_unit_length_and_meaningful(minilm: EmbeddingEngine) -> None:
    texts = [
        "The cat sits on the mat.",
        "A cat is sitting on a rug.",
        "Quarterly revenue grew by five percent.",
    ]
    emb = run(minilm.embed(texts))
    assert len(emb.vectors) == 3
    assert all(len(v) == 384 for v in emb.vectors)
    for v in emb.vectors:
        assert abs(sum(x * x for x in v) - 1.0) < 1e-4

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    cat, cat2, money = emb.vectors
    assert cos(cat, cat2) > cos(cat, money) + 0.3
    assert emb.prompt_tokens >= sum(len(t.split()) for t in texts)


def test_embedding_concurrent_calls_keep_order(minilm: EmbeddingEngine) -> None:
    async def scenario() -> list[list[float]]:
        results = await asyncio.gather(*(minilm.embed([f"text number {i}"]) for i in range(6)))
        return [r.vectors[0] for r in results]

    vectors = run(scenario())
    alone = run(minilm.embed(["text number 3"])).vectors[0]
    assert max(abs(a - b) for a, b in zip(vectors[3], alone, strict=True)) < 1e-5


def test_embedding_engine_does_not_chat(minilm: EmbeddingEngine) -> None:
    with pytest.raises(EngineError) as err:
        run(minilm.chat(HELLO, GREEDY))
    assert err.value.code == "UNSUPPORTED_OPERATION"
    with pytest.raises(EngineError):
        minilm.chat_stream(HELLO, GREEDY)
    with pytest.raises(EngineError) as err:
        run(minilm.embed([]))
    assert err.value.code == "INVALID_REQUEST"


# -- llama.cpp (SmolLM2-135M-Instruct) --------------------------------------------------------


def test_smollm2_answers_a_factual_question(smollm2: LlamaCppEngine) -> None:
    question = [{"role": "user", "content": "What is the capital of France?"}]
    params = SamplingParams(max_tokens=48, temperature=0)
    gen = run(smollm2.chat(question, params))
    assert "Paris" in gen.text
    assert gen.finish_reason == "stop"
    assert gen.prompt_tokens > 10
    assert 0 < gen.completion_tokens < 48
    pieces = run(deltas(smollm2.chat_stream(question, params)))
    assert len([p for p in pieces if p.text]) >= 3
    assert "".join(p.text for p in pieces) == gen.text
    assert (pieces[-1].completion_tokens, pieces[-1].finish_reason) == (
        gen.completion_tokens,
        "stop",
    )


def test_smollm2_completion_length_and_stop(smollm2: LlamaCppEngine) -> None:
    gen = run(smollm2.complete("Once upon a time", SamplingParams(max_tokens=12, temperature=0)))
    assert (gen.completion_tokens, gen.finish_reason) == (12, "length")
    cut = gen.text.split()[3]
    stopped = run(
        smollm2.complete(
            "Once upon a time", SamplingParams(max_tokens=12, temperature=0, stop=[cut])
        )
    )
    assert stopped.finish_reason == "stop"
    assert stopped.text == gen.text[: gen.text.index(cut)]


def test_smollm2_closing_a_stream_stops_generation(smollm2: LlamaCppEngine) -> None:
    async def scenario() -> int:
        before = smollm2.tokens_generated
        stream = smollm2.complete_stream("Once upon a time", SamplingParams(max_tokens=1500))
        got = 0
        async for delta in stream:
            got += bool(delta.text)
            if got == 3:
                break
        await stream.aclose()
        await wait_idle(smollm2)
        return smollm2.tokens_generated - before

    assert run(scenario()) < 50


def test_smollm2_concurrent_calls(smollm2: LlamaCppEngine) -> None:
    async def scenario() -> tuple[Generation, list[Delta], Generation]:
        params = SamplingParams(max_tokens=6, temperature=0)
        return await asyncio.gather(
            smollm2.complete("The sky is", params),
            deltas(smollm2.complete_stream("The sky is", params)),
            smollm2.complete("The sky is", params),
        )

    a, streamed, b = run(scenario())
    assert a == b
    assert "".join(d.text for d in streamed) == a.text


# -- selection, loading failures, plumbing ----------------------------------------------------


def test_engine_registry() -> None:
    assert set(ENGINES) == {"transformers", "embedding", "llamacpp", "vllm"}
    assert get_engine("embedding") is EmbeddingEngine
    with pytest.raises(ValueError, match="unknown engine 'nope'; known: transformers"):
        get_engine("nope")
    assert TransformersEngine.tasks == {"chat", "completion"}
    assert EmbeddingEngine.tasks == {"embedding"}


def test_select_engine_rules(
    tmp_path: Path, tiny_chat_model: Path, minilm_path: Path, smollm2_gguf: Path
) -> None:
    llama_ok = LlamaCppEngine.unavailable_reason("cpu") is None
    if llama_ok:
        assert select_engine(smollm2_gguf, "chat", "cpu", None) is LlamaCppEngine
        assert select_engine(smollm2_gguf.parent, None, "cpu", None) is LlamaCppEngine
    else:
        with pytest.raises(ValueError, match="llama"):
            select_engine(smollm2_gguf, "chat", "cpu", None)
    assert select_engine(minilm_path, None, "cpu", None) is EmbeddingEngine
    assert select_engine(tmp_path / "gone", "embedding", "cpu", None) is EmbeddingEngine
    assert select_engine(tiny_chat_model, "chat", "cpu", None) is TransformersEngine
    if VllmEngine.unavailable_reason("cuda"):  # no vllm/GPU here: transformers serves CUDA too
        assert select_engine(tiny_chat_model, None, "cuda", None) is TransformersEngine
    # files gone or never downloaded: the default engine, whose load then names the path
    assert select_engine(tmp_path / "gone", "chat", "cpu", None) is TransformersEngine
    assert select_engine(None, None, "cpu", None) is TransformersEngine
    # requested wins, when it can run here
    assert select_engine(tiny_chat_model, None, "cpu", "embedding") is EmbeddingEngine
    with pytest.raises(ValueError, match="unknown engine 'tgi'"):
        select_engine(tiny_chat_model, None, "cpu", "tgi")
    with pytest.raises(ValueError, match="'vllm' cannot run here on cpu: vllm runs on CUDA"):
        select_engine(tiny_chat_model, None, "cpu", "vllm")
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "weights.bin").write_bytes(b"\0" * 16)
    with pytest.raises(ValueError, match=r"cannot tell which engine serves .*odd; pick one"):
        select_engine(odd, None, "cpu", None)


def test_can_load_detects_formats(tmp_path: Path, tiny_chat_model: Path, minilm_path: Path) -> None:
    assert TransformersEngine.can_load(tiny_chat_model)
    assert not TransformersEngine.can_load(minilm_path)  # a BertModel, not a causal LM
    assert EmbeddingEngine.can_load(minilm_path)
    assert not EmbeddingEngine.can_load(tiny_chat_model)
    fake = tmp_path / "m.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 12)
    assert LlamaCppEngine.can_load(fake)
    assert not LlamaCppEngine.can_load(tiny_chat_model)


@pytest.mark.parametrize("engine", ["transformers", "embedding", "llamacpp"])
def test_missing_files_fail_with_model_loading_failure(tmp_path: Path, engine: str) -> None:
    if engine == "llamacpp":
        pytest.importorskip("llama_cpp")
    missing = tmp_path / "no-such-model"
    with pytest.raises(EngineError) as err:
        get_engine(engine)(EngineSpec(engine, str(missing), "m"))
    assert err.value.code == "MODEL_LOADING_FAILURE"
    assert str(missing) in err.value.message
    with pytest.raises(EngineError) as err:  # a model registered without local files
        get_engine(engine)(EngineSpec(engine, "", "remote-only"))
    assert err.value.code == "MODEL_LOADING_FAILURE"
    assert "remote-only: the model has no local files" in err.value.message


def test_corrupt_files_fail_with_model_loading_failure(
    tmp_path: Path, tiny_chat_model: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_chat_model, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(EngineError) as err:
        TransformersEngine(EngineSpec("transformers", str(broken), "m"))
    assert err.value.code == "MODEL_LOADING_FAILURE"
    assert str(broken) in err.value.message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EngineError, match=r"config\.json"):
        TransformersEngine(EngineSpec("transformers", str(empty), "m"))
    if LlamaCppEngine.unavailable_reason("cpu") is None:
        junk = tmp_path / "junk.gguf"
        junk.write_bytes(b"GGUF" + b"\xff" * 64)
        with pytest.raises(EngineError) as err:
            LlamaCppEngine(EngineSpec("llamacpp", str(junk), "m"))
        assert err.value.code == "MODEL_LOADING_FAILURE"
        assert str(junk) in err.value.message


def test_default_resources_and_options() -> None:
    cpu = TransformersEngine.default_resources("cpu", {})
    assert (cpu.num_cpus, cpu.num_gpus) == (1.0, 0.0)
    assert TransformersEngine.default_resources("cuda", {}).num_gpus == 1.0
    half = LlamaCppEngine.default_resources("cuda", {"num_gpus": 0.5, "num_cpus": 2})
    assert (half.num_cpus, half.num_gpus) == (2.0, 0.5)


def test_engine_error_and_spec_survive_pickling() -> None:
    error = pickle.loads(pickle.dumps(EngineError("OOM", "out of GPU memory")))  # noqa: S301
    assert (error.code, error.message) == ("OOM", "out of GPU memory")
    spec = EngineSpec("llamacpp", "/m.gguf", "m", options={"n_ctx": 512}, num_cpus=1.5)
    assert pickle.loads(pickle.dumps(spec)) == spec  # noqa: S301
    assert spec.threads == 1


def test_stop_matcher_holds_back_possible_stops() -> None:
    matcher = StopMatcher(["END", "\n\n"])
    assert matcher.feed("hello E") == (6, False)  # "E" may begin "END"
    assert matcher.feed("hello EN") == (6, False)
    assert matcher.feed("hello ENx") == (9, False)
    assert matcher.feed("hello ENx and\n\nmore") == (13, True)
    assert StopMatcher([]).feed("abc") == (3, False)
