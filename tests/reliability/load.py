"""A load driver: many concurrent clients run a realistic mix against a live platform, and every
write the platform acknowledged is checked afterwards.

Each client is one user with a write PAT, its own vector DB and an asyncio HTTP connection;
it picks operations by weight until the time is up: who-am-I, lists and gets, a password login,
catalog dataset creates, vector inserts (ids chosen by the client) and searches, and chat
completions on a deployed model. Every call is timed per operation; any non-2xx reply or
transport error counts as an error, with a few samples kept.

`verify` then reads everything back: each acknowledged dataset exists exactly once with the
properties it was created with, and each client's collection holds exactly the acknowledged
vectors (count, and every id found by its own metadata).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

DIM = 8
COLLECTION = "load"
WEIGHTS = {
    "me": 10,
    "list_vectordbs": 6,
    "list_datasets": 6,
    "get_dataset": 6,
    "login": 2,
    "create_dataset": 10,
    "insert_vectors": 10,
    "search_vectors": 12,
    "chat": 4,
}


@dataclass
class Actor:
    """One simulated user: credentials, its vector DB, and what the platform acknowledged."""

    username: str
    password: str
    token: str
    vectordb_id: str
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)  # urn -> properties
    vectors: dict[str, str] = field(default_factory=dict)  # id -> marker


@dataclass
class Report:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)

    def error(self, op: str, detail: str) -> None:
        self.errors[op] += 1
        if len(self.samples) < 10:
            self.samples.append(f"{op}: {detail[:300]}")

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float:
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)], 2)

        routes = {
            op: {
                "calls": len(v),
                "errors": self.errors.get(op, 0),
                "p50_ms": pct(v, 50),
                "p99_ms": pct(v, 99),
            }
            for op, v in sorted(self.latencies.items())
            if v
        }
        return {
            "calls": sum(len(v) for v in self.latencies.values()),
            "errors": sum(self.errors.values()),
            "error_samples": self.samples,
            "routes": routes,
        }


class Load:
    """Runs `clients` actors for `seconds` against `url`; `chat_path` is a deployment's chat URL."""

    def __init__(self, url: str, actors: list[Actor], chat_path: str | None, seed: int = 7) -> None:
        self.url, self.actors, self.chat_path = url, actors, chat_path
        self.report = Report()
        self.rng = random.Random(seed)
        self.ops = [op for op in WEIGHTS if op != "chat" or chat_path]

    async def run(self, seconds: float) -> Report:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(self._client(a, deadline) for a in self.actors))
        return self.report

    async def _client(self, actor: Actor, deadline: float) -> None:
        headers = {"Authorization": f"Bearer {actor.token}"}
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=120, limits=limits
        ) as http:
            weights = [WEIGHTS[op] for op in self.ops]
            while time.monotonic() < deadline:
                op = self.rng.choices(self.ops, weights)[0]
                started = time.perf_counter()
                try:
                    reply = await getattr(self, f"_{op}")(http, actor)
                except httpx.HTTPError as exc:
                    self.report.error(op, f"{type(exc).__name__}: {exc}")
                    continue
                self.report.latencies[op].append((time.perf_counter() - started) * 1000)
                if not reply.is_success:
                    self.report.error(op, f"{reply.status_code} {reply.text}")

    # ---- the operations (each returns the reply; writes record what was acknowledged) ----------
    async def _me(self, http: httpx.AsyncClient, actor: Actor) -> httpx.Response:
        return await http.get("/api/auth/users/me")

    async def _list_vectordbs(self, http: httpx.AsyncClient, actor: Actor) -> httpx.Response:
        return await http.get("/api/context/vectordbs")

    async def _list_datasets(self, http: httpx.AsyncClient, actor: Actor) -> httpx.Response:
        return await http.get("/api/catalog/datasets/", params={"query": actor.username})

    async def _get_dataset(self, http: httpx.AsyncClient, actor: Actor) -> httpx.Response:
        if not actor.datasets:
            return await http.get(f"/api/context/vectordbs/{actor.vectordb_id}")
        urn = self.rng.choice(list(actor.datasets))
        return await http.get("/api/catalog/datasets/by-urn", params={"urn": urn})

    async def _login(self, http: httpx.AsyncClient, actor: Actor) -> httpx.Response:
        body = {"username": actor.username, "password": actor.password}
        return await http.post("/api/auth/token", data=body, headers={"Authorization": ""})

    async def _create_dataset(self, http: httpx.AsyncClient, actor: Actor) -> httpx.Response:
        marker = uuid.uuid4().hex
        props = {"marker": marker, "owner": actor.username}
        body = {
            "name": f"{actor.username}-{marker[:12]}",
            "platform": "file",
            "description": f"load test {marker}",
            "properties": props,
        }
        reply = await http.post("/api/catalog/datasets/", json=body)
        if reply.is_success:
            actor.datasets[str(reply.json())] = props
        return reply

    async def _insert_vectors(self, http: httpx.AsyncClient, actor: Actor) -> httpx.Response:
        ids = [str(uuid.uuid4()) for _ in range(self.rng.randint(1, 4))]
        vectors = [[self.rng.uniform(-1, 1) for _ in range(DIM)] for _ in ids]
        metadata = [{"marker": i, "owner": actor.username} for i in ids]
        body = {"collection_name": COLLECTION, "vectors": vectors, "metadata": metadata, "ids": ids}
        reply = await http.post(f"/api/context/vectordbs/{actor.vectordb_id}/insert", json=body)
        if reply.is_success:
            actor.vectors.update({i: i for i in reply.json()["ids"]})
        return reply

    async def _search_vectors(self, http: httpx.AsyncClient, actor: Actor) -> httpx.Response:
        if not actor.vectors:
            return await self._insert_vectors(http, actor)
        body = {
            "collection_name": COLLECTION,
            "vectors": [[self.rng.uniform(-1, 1) for _ in range(DIM)]],
            "limit": 5,
        }
        return await http.post(f"/api/context/vectordbs/{actor.vectordb_id}/query", json=body)

    async def _chat(self, http: httpx.AsyncClient, actor: Actor) -> httpx.Response:
        assert self.chat_path is not None
        body = {"model": "any", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
        return await http.post(self.chat_path, json=body)


def verify(http: httpx.Client, actors: list[Actor]) -> list[str]:
    """Every acknowledged write present exactly once with its content; the problems found."""
    problems: list[str] = []
    for actor in actors:
        headers = {"Authorization": f"Bearer {actor.token}"}
        listed = http.get(
            "/api/catalog/datasets/",
            params={"query": actor.username, "limit": 10_000},
            headers=headers,
        ).json()
        names = [d["name"] for d in listed if d["name"].startswith(actor.username + "-")]
        if len(names) != len(set(names)):
            problems.append(f"{actor.username}: a dataset is listed twice")
        for urn, props in actor.datasets.items():
            reply = http.get("/api/catalog/datasets/by-urn", params={"urn": urn}, headers=headers)
            if reply.status_code != 200:
                problems.append(f"{urn}: acknowledged but {reply.status_code}")
            elif {k: reply.json()["properties"].get(k) for k in props} != props:
                problems.append(f"{urn}: properties changed: {reply.json()['properties']}")
        if len(names) != len(actor.datasets):
            acknowledged = len(actor.datasets)
            problems.append(f"{actor.username}: {len(names)} datasets listed, {acknowledged} acked")
        if actor.vectors:
            collection = http.get(
                f"/api/context/collections/{COLLECTION}",
                params={"vectordb_id": actor.vectordb_id},
                headers=headers,
            ).json()
            if collection.get("count") != len(actor.vectors):
                problems.append(
                    f"{actor.username}: {collection.get('count')} vectors stored, "
                    f"{len(actor.vectors)} acknowledged"
                )
            for chunk in _chunks(sorted(actor.vectors), 100):
                body = {
                    "collection_name": COLLECTION,
                    "vectors": [[1.0] * DIM],
                    "limit": len(chunk),
                    "filter": {"marker": {"$in": chunk}},
                }
                hits = http.post(
                    f"/api/context/vectordbs/{actor.vectordb_id}/query", json=body, headers=headers
                ).json()["results"]
                found = sorted(h["id"] for h in hits)
                if found != sorted(chunk):
                    missing = set(chunk) - set(found)
                    problems.append(f"{actor.username}: vectors missing or doubled: {missing}")
    return problems


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
