"""Notebook cells that use a selected object through `waza.client` (or the OpenAI client)."""

from __future__ import annotations

KINDS = ("model", "deployment", "collection", "dataset")


def snippet(kind: str, ident: str, *, db: str | None = None, flavor: str = "waza") -> str:
    """The code of one cell for ``kind`` ``ident`` (ValueError for an unknown kind or no id)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if not ident:
        raise ValueError("id is required")
    head = "from waza.client import Client\n\nclient = Client()\n"
    i = repr(ident)
    if kind == "model":
        return (
            f"{head}model = client.models.get_model({i})\n"
            "dep_id = client.serving.deploy(model.id)\n"
            "deployment = client.serving.wait(dep_id)\n"
            'print(deployment.status, client.serving.chat(dep_id, "Hello!", max_tokens=32))\n'
        )
    if kind == "deployment":
        if flavor == "openai":
            return (
                f"{head}oai = client.serving.openai({i})  # an openai.OpenAI client\n"
                "reply = oai.chat.completions.create(\n"
                '    model="waza",\n'
                '    messages=[{"role": "user", "content": "Hello!"}],\n'
                "    max_tokens=32,\n"
                ")\n"
                "print(reply.choices[0].message.content)\n"
            )
        return (
            f'{head}for piece in client.serving.chat_stream({i}, "Hello!", max_tokens=32):\n'
            '    print(piece, end="", flush=True)\n'
        )
    if kind == "collection":
        if not db:
            raise ValueError("db (the vector DB id) is required for a collection")
        return (
            f'{head}query = client.embedding.generate("what is this about?").embedding\n'
            f"hits = client.vectors.search({db!r}, {i}, [query], limit=5)\n"
            "for hit in hits:\n"
            "    print(round(hit.score, 3), hit.metadata)\n"
        )
    return (
        f"{head}dataset = client.catalog.dataset({i})\n"
        "print(dataset.name, dataset.platform)\n"
        f"rows = client.retrieval.rows({i}, limit_rows=10)\n"
        "rows[:5]\n"
    )
