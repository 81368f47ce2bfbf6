"""`waza ingest PATH --collection C`: the RAG ingest job through the API, with a progress bar.

Each file under PATH is cataloged, chunked, embedded and inserted into collection C. The command
waits for the job and exits 0 when it completed, 1 (with the reason) when it failed or was
cancelled. Ctrl-C cancels the job, which removes what it had created.
"""

from __future__ import annotations

import contextlib
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from waza.client import Client, WazaAPIError
from waza.services.ingestion.schemas import RagJob

err = Console(stderr=True)


def _describe(job: RagJob) -> str:
    p = job.progress
    replaced = f" · {p.vectors_replaced} old replaced" if p.vectors_replaced else ""
    return (
        f"{p.files_done}/{p.files_total} files · {p.chunks} chunks · {p.vectors_inserted} vectors"
        + replaced
    )


def ingest(
    path: Annotated[str, typer.Argument(help="A folder or file on the platform's machine.")],
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection to insert into (created).")
    ],
    db: Annotated[
        str | None, typer.Option("--db", help="Vector DB id (default: your default DB).")
    ] = None,
    chunk_size: Annotated[
        int | None, typer.Option(help="Tokens per chunk (default: what the model reads).")
    ] = None,
    overlap: Annotated[int | None, typer.Option(help="Tokens shared by neighbours.")] = None,
    skip_errors: Annotated[
        bool, typer.Option("--skip-errors", help="Skip unreadable files instead of failing.")
    ] = False,
    recursive: Annotated[bool, typer.Option(help="Descend into sub-folders.")] = True,
    replace: Annotated[
        bool, typer.Option(help="Replace the old chunks of files ingested into it before.")
    ] = True,
    model: Annotated[
        str | None,
        typer.Option(
            help="Embedding model (default: the platform's); with --provider deployment, a "
            "deployment id or deployed model name."
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(help="Embedding provider, e.g. 'deployment' for a deployed model."),
    ] = None,
    url: Annotated[str | None, typer.Option(envvar="WAZA_API_URL", help="Platform URL.")] = None,
    token: Annotated[
        str | None, typer.Option(envvar="WAZA_API_KEY", help="Access token (a PAT).")
    ] = None,
) -> None:
    """Ingest a folder into a collection for RAG: catalog, chunk, embed, insert."""
    client = Client(url, token)
    try:
        try:
            job = client.ingestion.rag.ingest_folder(
                os.path.abspath(os.path.expanduser(path)),
                collection,
                vectordb_id=db,
                chunk_size=chunk_size,
                overlap=overlap,
                recursive=recursive,
                replace=replace,
                fail_fast=not skip_errors,
                model=model,
                provider_type=provider,
            )
        except WazaAPIError as exc:
            err.print(f"[red]ingest failed[/] {exc.message}")
            raise typer.Exit(1) from exc
        job = _follow(client, job)
    finally:
        client.close()
    for problem in job.errors:
        err.print(f"[yellow]skipped[/] {problem}")
    if job.status != "COMPLETED":
        err.print(f"[red]ingest {job.status.lower()}[/] {job.error or ''}".rstrip())
        raise typer.Exit(1)
    err.print(
        f"[green]ingested[/] {_describe(job)} into collection {job.collection!r} "
        f"(vector DB {job.vectordb_id}); job {job.id}"
    )


def _follow(client: Client, job: RagJob) -> RagJob:
    """Show progress until the job ends; Ctrl-C cancels it (and waits for its cleanup)."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        task: TaskID = bar.add_task(
            "ingest", total=max(job.progress.bytes_total, 1), detail=_describe(job)
        )

        def show(current: RagJob) -> None:
            bar.update(
                task,
                completed=current.progress.bytes_done,
                total=max(current.progress.bytes_total, 1),
                detail=_describe(current),
            )

        try:
            return client.ingestion.rag.wait(job, progress=show)
        except KeyboardInterrupt:
            bar.update(task, description="cancelling")
            with contextlib.suppress(WazaAPIError):  # it may have ended meanwhile
                client.ingestion.rag.cancel(job)
            return client.ingestion.rag.wait(job, progress=show)
