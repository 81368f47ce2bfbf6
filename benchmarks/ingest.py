"""How close does the RAG ingest pipeline come to raw embedding speed?

Measures, in one run, chunks per second of

  (a) the full pipeline through the API of a live ``waza api``: ``POST /api/ingestion/rag/ingest``
      of a folder (catalog each file, read, chunk, embed, insert into a new Milvus collection),
      timed from the job's ``started_at`` to its ``finished_at``;
  (b) raw embedding of the same chunks: ``EmbeddingService.embed`` in this process, with the same
      model, batch size and thread settings, timed around the ``embed`` calls only;

and reports (a)/(b) (goal: at least 0.85). Both use the platform's default model (the packaged
all-MiniLM-L6-v2) on the CPU. The server loads its model with a small warm-up job first, so (a)
measures the pipeline, not the model's loading. Run from the repository root::

    python -m benchmarks.ingest               # 24 files of ~1500 words (~200 chunks)
    python -m benchmarks.ingest --quick       # 6 files
    python -m benchmarks.ingest --rounds 3    # pipeline then raw, 3 times; medians

Exit status: 0 on success (the goal is reported, not enforced unless ``--fail-below``), 1 if the
job failed or ``--fail-below`` was not met, 2 if the setup failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks._results import save

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "ingest.json"
ADMIN_PASSWORD = "bench-admin-pw-1"  # noqa: S105 (a throw-away benchmark account)
GOAL = 0.85
WORDS = (  # noqa: SIM905 (a readable word list)
    "river mountain harbour engine market window garden letter winter summer morning evening "
    "village city road bridge station train ship cargo signal record ledger contract merchant "
    "teacher student library archive museum painting music theatre kitchen bread cheese wine "
    "forest meadow storm cloud rain snow light shadow stone iron copper silver gold glass paper "
    "measure weight distance speed pressure heat current voltage circuit network protocol "
    "server client request response table column index query schema model vector embedding "
    "the a of to in and with for on by from as at into over under between through after before "
    "is was are were has had carries moves builds opens closes finds keeps sends reads writes"
).split()


class SetupError(RuntimeError):
    """The benchmark could not start."""


def corpus(folder: Path, files: int, words: int, seed: int = 7) -> None:
    """`files` text files of about `words` words each, in sentences and paragraphs."""
    rng = random.Random(seed)
    for i in range(files):
        sentences, count = [], 0
        while count < words:
            n = rng.randint(8, 20)
            sentence = " ".join(rng.choice(WORDS) for _ in range(n))
            sentences.append(sentence.capitalize() + ".")
            count += n
        paragraphs = [" ".join(sentences[j : j + 6]) for j in range(0, len(sentences), 6)]
        (folder / f"doc{i:03d}.md").write_text(f"# Document {i}\n\n" + "\n\n".join(paragraphs))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def waza_api(home: Path) -> Iterator[tuple[str, int]]:
    """A `waza api` on a free port with a fresh WAZA_HOME (SQLite); yields its URL and pid."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAZA_")}
    env.update(
        WAZA_HOME=str(home),
        WAZA_ADMIN_PASSWORD=ADMIN_PASSWORD,
        WAZA_SECRET_KEY="waza-bench-kek",  # noqa: S106 (a throw-away key)
        WAZA_LOG_LEVEL="WARNING",
    )
    log_path = home / "api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "waza", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise SetupError("waza api exited early:\n" + log_path.read_text()[-3000:])
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/api/ping", timeout=1, trust_env=False).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SetupError("waza api did not answer in 90 s")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_job(
    http: httpx.Client, pid: int, folder: Path, collection: str, batch_size: int
) -> dict[str, Any]:
    """Start a RAG ingest and poll it (every 0.5 s) to the end; adds wall and CPU time."""
    cpu, started = cpu_seconds(pid), time.perf_counter()
    reply = http.post(
        "/api/ingestion/rag/ingest",
        json={"path": str(folder), "collection": collection, "batch_size": batch_size},
    )
    if reply.status_code != 202:
        raise SetupError(f"rag ingest refused: {reply.status_code} {reply.text}")
    job: dict[str, Any] = reply.json()
    while job["status"] not in {"COMPLETED", "FAILED", "CANCELLED"}:
        time.sleep(0.5)
        job = http.get(f"/api/ingestion/rag/jobs/{job['id']}").json()
    job["client_seconds"] = time.perf_counter() - started
    job["cpu_seconds"] = cpu_seconds(pid) - cpu
    return job


class RawEmbedding:
    """The same chunks as the pipeline makes, embedded in this process."""

    def __init__(self, folder: Path, home: Path, batch_size: int) -> None:
        from waza.services.embedding.service import EmbeddingService
        from waza.settings import Settings

        self.service = EmbeddingService(Settings(home=home))
        self.batch_size = batch_size
        self.texts = [
            c.text
            for path in sorted(folder.iterdir())
            for c in self.service.chunk(path.read_text())
            if c.text.strip()
        ]
        self.service.embed(self.texts[:batch_size], batch_size=batch_size)  # warm-up

    def measure(self) -> dict[str, Any]:
        """Time `EmbeddingService.embed` alone over every chunk."""
        from waza.services.embedding.service import MAX_BATCH_ITEMS

        cpu, started = time.process_time(), time.perf_counter()
        for i in range(0, len(self.texts), MAX_BATCH_ITEMS):
            self.service.embed(self.texts[i : i + MAX_BATCH_ITEMS], batch_size=self.batch_size)
        seconds = time.perf_counter() - started
        return {
            "chunks": len(self.texts),
            "seconds": seconds,
            "cpu_seconds": time.process_time() - cpu,
            "chunks_per_s": len(self.texts) / seconds,
        }


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--words", type=int, default=1500, help="Words per file.")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--rounds", type=int, default=1, help="Pipeline then raw, this many times (medians)."
    )
    parser.add_argument("--quick", action="store_true", help="6 files.")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--fail-below", type=float, default=None)
    args = parser.parse_args(argv)
    files = 6 if args.quick else args.files

    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="waza-bench-ingest-") as tmp:
        home = Path(tmp)
        folder = home / "data" / "corpus"
        folder.mkdir(parents=True)
        corpus(folder, files, args.words)
        corpus_bytes = sum(p.stat().st_size for p in folder.iterdir())
        warm = home / "data" / "warm"
        warm.mkdir()
        (warm / "w.txt").write_text("Warm-up text that loads the embedding model.")
        load_before = os.getloadavg()
        try:
            with waza_api(home) as (url, pid), httpx.Client(base_url=url, timeout=60) as http:
                token = http.post(
                    "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
                ).json()["access_token"]
                http.headers["Authorization"] = f"Bearer {token}"
                http.cookies.clear()
                warmup = run_job(http, pid, warm, "bench_warmup", args.batch_size)
                if warmup["status"] != "COMPLETED":
                    raise SetupError(f"warm-up job failed: {warmup['error']}")
                raw = RawEmbedding(folder, home, args.batch_size)
                for r in range(args.rounds):
                    job = run_job(http, pid, folder, f"bench_corpus_{r}", args.batch_size)
                    if job["status"] != "COMPLETED":
                        print(f"the ingest job failed: {job['error']}", file=sys.stderr)
                        return 1
                    rounds.append({"pipeline": job, "raw": raw.measure()})
        except SetupError as exc:
            print(f"setup failed: {exc}", file=sys.stderr)
            return 2

    results = []
    for measured in rounds:
        job, base = measured["pipeline"], measured["raw"]
        chunks = job["progress"]["chunks_embedded"]
        server_seconds = seconds_between(job["started_at"], job["finished_at"])
        results.append(
            {
                "pipeline": {
                    "chunks": chunks,
                    "vectors": job["progress"]["vectors_inserted"],
                    "server_seconds": server_seconds,
                    "client_seconds": job["client_seconds"],
                    "server_cpu_seconds": job["cpu_seconds"],
                    "chunks_per_s": chunks / server_seconds,
                },
                "raw_embedding": base,
                "ratio": (chunks / server_seconds) / base["chunks_per_s"],
                "cpu_ratio": (base["cpu_seconds"] / base["chunks"]) / (job["cpu_seconds"] / chunks),
            }
        )

    print(f"corpus: {files} files, {corpus_bytes} bytes; batch size {args.batch_size}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
    print(f"{'':8}{'':28}{'chunks':>8}{'seconds':>10}{'CPU s':>8}{'chunks/s':>10}")
    for i, res in enumerate(results, 1):
        a, b = res["pipeline"], res["raw_embedding"]
        print(
            f"round {i:<2}{'(a) RAG ingest via API':28}{a['chunks']:>8}"
            f"{a['server_seconds']:>10.2f}{a['server_cpu_seconds']:>8.1f}{a['chunks_per_s']:>10.2f}"
        )
        print(
            f"{'':8}{'(b) EmbeddingService.embed':28}{b['chunks']:>8}"
            f"{b['seconds']:>10.2f}{b['cpu_seconds']:>8.1f}{b['chunks_per_s']:>10.2f}"
        )
        if a["chunks"] != b["chunks"]:
            print(f"note: the pipeline made {a['chunks']} chunks, the raw run {b['chunks']}")
    ratio = median([res["ratio"] for res in results])
    cpu_ratio = median([res["cpu_ratio"] for res in results])
    verdict = "met" if ratio >= GOAL else "NOT met"
    label = "ratio (a)/(b)" if len(results) == 1 else f"median ratio (a)/(b) of {len(results)}"
    print(f"{label}: {ratio:.3f} (goal >= {GOAL}: {verdict})")
    print(f"CPU time per chunk, (b)/(a): {cpu_ratio:.3f}")

    report = {
        "when": datetime.now(UTC).isoformat(),
        "corpus": {"files": files, "words_per_file": args.words, "bytes": corpus_bytes},
        "batch_size": args.batch_size,
        "rounds": results,
        "ratio": ratio,
        "cpu_ratio": cpu_ratio,
        "goal": GOAL,
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
        },
    }
    save(report, args.json)
    if args.fail_below is not None and ratio < args.fail_below:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
