"""One behaviour, two engines: every test here runs against Milvus (milvus-lite) and Qdrant
(local storage) through `VectorBackend`, and expects the same answers from both."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from waza.errors import BadRequest, Conflict, NotFound, Unprocessable
from waza.services.vectordb.backends import ENGINES, VectorBackend, open_backend
from waza.services.vectordb.filters import parse_filter


def _open(engine: str, root: Path) -> VectorBackend:
    endpoint = root / ("milvus.db" if engine == "milvus" else "qdrant")
    return open_backend(engine, str(endpoint), storage=root)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(engine: str, tmp_path: Path) -> Iterator[VectorBackend]:
    backend = _open(engine, tmp_path / "db")
    yield backend
    backend.close()


DOCS = [  # vector, metadata
    ([1.0, 0.0, 0.0], {"source": "a.txt", "page": 1, "lang": "en", "draft": False}),
    ([0.9, 0.1, 0.0], {"source": "a.txt", "page": 2, "lang": "fr", "score": 2.5}),
    ([0.0, 1.0, 0.0], {"source": "b.txt", "page": 3, "lang": "en", "doc": {"kind": "memo"}}),
    ([0.0, 0.0, 1.0], {"source": "c.txt", "page": 4, "draft": True}),
    ([0.5, 0.5, 0.0], {}),
]


@pytest.fixture
def docs(store: VectorBackend) -> dict[str, str]:
    """The DOCS in collection ``docs``; maps each source/page label to its id."""
    result = store.insert("docs", [v for v, _ in DOCS], [m for _, m in DOCS])
    assert result.created_collection is True
    labels = [f"{m.get('source', '-')}:{m.get('page', '-')}" for _, m in DOCS]
    return dict(zip(labels, result.ids, strict=True))


def _labels(store: VectorBackend, flt: object, docs: dict[str, str]) -> set[str]:
    hits = store.search("docs", [[1.0, 1.0, 1.0]], 10, flt=parse_filter(flt))[0]
    by_id = {v: k for k, v in docs.items()}
    return {by_id[h.id] for h in hits}


def test_collection_lifecycle(store: VectorBackend) -> None:
    assert store.list_collections() == []
    info = store.create_collection("notes", 8, "l2", "my notes")
    assert (info.dimension, info.metric) == (8, "L2")
    store.create_collection("other_1", 4)
    assert store.list_collections() == ["notes", "other_1"]
    described = store.describe_collection("notes")
    assert described is not None
    assert (described.dimension, described.metric, described.description) == (8, "L2", "my notes")
    assert store.describe_collection("other_1").metric == "COSINE"  # type: ignore[union-attr]
    with pytest.raises(Conflict):
        store.create_collection("notes", 8)
    assert store.drop_collection("notes") is True
    assert store.drop_collection("notes") is False
    assert store.list_collections() == ["other_1"]
    assert store.describe_collection("notes") is None


@pytest.mark.parametrize("name", ["bad-name", "1abc", "", "a b", "x" * 201, "é"])
def test_collection_names_follow_the_milvus_rule(store: VectorBackend, name: str) -> None:
    with pytest.raises(Unprocessable):
        store.create_collection(name, 4)
    with pytest.raises(Unprocessable):
        store.insert(name, [[1.0, 2.0]])


def test_first_insert_creates_the_collection_with_the_vectors_dimension(
    store: VectorBackend,
) -> None:
    with pytest.raises(NotFound):
        store.insert("fresh", [[1.0, 2.0]], create_if_missing=False)
    assert store.list_collections() == []
    result = store.insert("fresh", [[1.0, 2.0], [2.0, 1.0]], metric="IP")
    assert result.created_collection and len(result.ids) == 2
    info = store.describe_collection("fresh")
    assert info is not None and (info.dimension, info.metric) == (2, "IP")
    assert store.insert("fresh", [[3.0, 3.0]]).created_collection is False
    assert store.count("fresh") == 3


def test_dimension_mismatch_is_a_400_with_both_dimensions(store: VectorBackend) -> None:
    store.insert("dims", [[1.0, 2.0, 3.0]])
    with pytest.raises(BadRequest, match=r"3-dimensional.*2-dimensional"):
        store.insert("dims", [[1.0, 2.0]])
    with pytest.raises(BadRequest, match="Dimension mismatch"):
        store.search("dims", [[1.0, 2.0, 3.0, 4.0]], 3)
    with pytest.raises(BadRequest, match="same dimension"):
        store.insert("dims", [[1.0, 2.0, 3.0], [1.0, 2.0]])
    assert store.count("dims") == 1


def test_bad_vectors_are_rejected(store: VectorBackend) -> None:
    with pytest.raises(BadRequest, match="finite"):
        store.insert("v", [[1.0, float("nan")]])
    with pytest.raises(BadRequest, match="No vectors"):
        store.insert("v", [])
    with pytest.raises(BadRequest, match="zero vector"):
        store.insert("v", [[0.0, 0.0]])  # COSINE is the default metric
    with pytest.raises(BadRequest, match="metadata"):
        store.insert("v", [[1.0, 0.0]], [{}, {}])
    assert store.list_collections() == []  # nothing was created by the failed inserts


def test_search_returns_metadata_best_first(store: VectorBackend, docs: dict[str, str]) -> None:
    hits = store.search("docs", [[1.0, 0.0, 0.0]], 3)[0]
    assert [h.id for h in hits] == [docs["a.txt:1"], docs["a.txt:2"], docs["-:-"]]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].score > hits[1].score > hits[2].score
    assert hits[0].metadata == {"source": "a.txt", "page": 1, "lang": "en", "draft": False}
    assert store.search("docs", [[0.0, 1.0, 0.0]], 1)[0][0].metadata["doc"] == {"kind": "memo"}


def test_several_query_vectors_get_one_result_list_each(
    store: VectorBackend, docs: dict[str, str]
) -> None:
    results = store.search("docs", [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], 1)
    assert [r[0].id for r in results] == [docs["a.txt:1"], docs["c.txt:4"]]


def test_output_fields_select_metadata(store: VectorBackend, docs: dict[str, str]) -> None:
    query = [[1.0, 0.0, 0.0]]
    assert store.search("docs", query, 1, output_fields=["source", "nope"])[0][0].metadata == {
        "source": "a.txt"
    }
    assert store.search("docs", query, 1, output_fields=[])[0][0].metadata == {}
    assert len(store.search("docs", query, 1, output_fields=["*"])[0][0].metadata) == 4


def test_search_on_an_empty_or_unknown_collection(store: VectorBackend) -> None:
    store.create_collection("empty", 3)
    assert store.search("empty", [[1.0, 0.0, 0.0]], 5) == [[]]
    assert store.count("empty") == 0
    with pytest.raises(NotFound):
        store.search("missing", [[1.0, 0.0, 0.0]], 5)
    with pytest.raises(NotFound):
        store.count("missing")


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"source": "a.txt"}, {"a.txt:1", "a.txt:2"}),
        ({"source": "a.txt", "lang": "fr"}, {"a.txt:2"}),
        ({"page": 3}, {"b.txt:3"}),
        ({"page": 3.0}, {"b.txt:3"}),
        ({"score": 2.5}, {"a.txt:2"}),
        ({"draft": True}, {"c.txt:4"}),
        ({"draft": False}, {"a.txt:1"}),
        ({"page": {"$gte": 2, "$lt": 4}}, {"a.txt:2", "b.txt:3"}),
        ({"page": {"$gt": 3}}, {"c.txt:4"}),
        ({"page": {"$lte": 1}}, {"a.txt:1"}),
        ({"lang": {"$in": ["fr", "de"]}}, {"a.txt:2"}),
        ({"page": {"$in": [1, 4]}}, {"a.txt:1", "c.txt:4"}),
        ({"lang": {"$ne": "en"}}, {"a.txt:2"}),  # only vectors that have the field
        ({"lang": {"$nin": ["fr"]}}, {"a.txt:1", "b.txt:3"}),
        ({"source": {"$eq": "c.txt"}}, {"c.txt:4"}),
        ({"doc.kind": "memo"}, {"b.txt:3"}),
        ({"$or": [{"source": "c.txt"}, {"lang": "fr"}]}, {"a.txt:2", "c.txt:4"}),
        ({"$and": [{"source": "a.txt"}, {"page": {"$gt": 1}}]}, {"a.txt:2"}),
        ({"source": "zzz"}, set()),
        ({"missing_field": "x"}, set()),
    ],
)
def test_metadata_filters(
    store: VectorBackend, docs: dict[str, str], flt: dict[str, object], expected: set[str]
) -> None:
    assert _labels(store, flt, docs) == expected


def test_filter_strings_are_matched_literally(store: VectorBackend) -> None:
    tricky = 'quo"te \\ back\nnew\ttab é'
    store.insert("s", [[1.0, 0.0], [0.0, 1.0]], [{"t": tricky}, {"t": "plain"}])
    hits = store.search("s", [[1.0, 1.0]], 5, flt=parse_filter({"t": tricky}))[0]
    assert [h.metadata["t"] for h in hits] == [tricky]
    injected = parse_filter({"t": 'x" or metadata["t"] == "plain'})
    assert store.search("s", [[1.0, 1.0]], 5, flt=injected) == [[]]


def test_scores_are_similarities_for_every_metric(store: VectorBackend) -> None:
    store.insert("l2", [[0.0, 0.0], [3.0, 4.0]], [{"n": 0}, {"n": 1}], metric="L2")
    hits = store.search("l2", [[0.0, 0.0]], 2)[0]
    assert [h.metadata["n"] for h in hits] == [0, 1]
    assert [h.score for h in hits] == pytest.approx([1.0, 1 / 6], abs=1e-5)  # 1 / (1 + 5)
    store.insert("ip", [[1.0, 2.0], [3.0, 4.0]], [{"n": 0}, {"n": 1}], metric="IP")
    hits = store.search("ip", [[1.0, 1.0]], 2)[0]
    assert [h.score for h in hits] == pytest.approx([7.0, 3.0], abs=1e-4)
    store.insert("cos", [[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]], metric="COSINE")
    hits = store.search("cos", [[2.0, 0.0]], 3)[0]
    assert [h.score for h in hits] == pytest.approx([1.0, 0.0, -1.0], abs=1e-5)


def test_given_ids_are_kept_and_replace_existing_vectors(store: VectorBackend) -> None:
    first = str(uuid.uuid4())
    result = store.insert("u", [[1.0, 0.0]], [{"v": 1}], ids=[first.upper()])
    assert result.ids == [first]
    store.insert("u", [[0.0, 1.0]], [{"v": 2}], ids=[first])
    assert store.count("u") == 1
    hit = store.search("u", [[0.0, 1.0]], 5)[0][0]
    assert (hit.id, hit.metadata) == (first, {"v": 2})
    with pytest.raises(BadRequest, match="UUID"):
        store.insert("u", [[1.0, 0.0]], ids=["not-a-uuid"])
    with pytest.raises(BadRequest, match="repeat"):
        store.insert("u", [[1.0, 0.0], [0.0, 1.0]], ids=[first, first])


def test_delete_by_id_by_filter_and_both(store: VectorBackend, docs: dict[str, str]) -> None:
    everything = set(docs)
    assert store.delete("docs", ids=[docs["c.txt:4"]]) == 1
    assert _labels(store, {}, docs) == everything - {"c.txt:4"}
    assert store.delete("docs", ids=[docs["c.txt:4"], str(uuid.uuid4())]) == 0  # already gone
    # both: only vectors matching the ids AND the filter
    assert (
        store.delete(
            "docs", ids=[docs["a.txt:1"], docs["b.txt:3"]], flt=parse_filter({"source": "a.txt"})
        )
        == 1
    )
    assert _labels(store, {}, docs) == everything - {"c.txt:4", "a.txt:1"}
    assert store.delete("docs", flt=parse_filter({"lang": {"$in": ["fr", "en"]}})) == 2
    assert _labels(store, {}, docs) == {"-:-"}
    assert store.count("docs") == 1
    assert store.delete("docs", flt=parse_filter({"source": "zzz"})) == 0


def test_delete_needs_a_selection_and_an_existing_collection(
    store: VectorBackend, docs: dict[str, str]
) -> None:
    with pytest.raises(BadRequest, match="ids, a filter"):
        store.delete("docs")
    with pytest.raises(BadRequest, match="UUID"):
        store.delete("docs", ids=["not-a-uuid"])
    with pytest.raises(NotFound):
        store.delete("missing", ids=[str(uuid.uuid4())])
    assert store.delete("docs", ids=[]) == 0
    assert store.count("docs") == len(DOCS)


def test_deleted_vectors_stay_deleted_after_reopening(engine: str, tmp_path: Path) -> None:
    first = _open(engine, tmp_path / "db")
    ids = first.insert("r", [[1.0, 0.0], [0.0, 1.0]], [{"k": "x"}, {"k": "y"}]).ids
    assert first.delete("r", flt=parse_filter({"k": "x"})) == 1
    first.close()
    again = _open(engine, tmp_path / "db")
    try:
        hits = again.search("r", [[1.0, 0.0]], 5)[0]
        assert [h.id for h in hits] == [ids[1]]
    finally:
        again.close()


def test_large_batches_are_inserted_in_parts(store: VectorBackend) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(4500, 16)).astype(np.float32)
    result = store.insert("big", vectors, [{"i": i} for i in range(len(vectors))])
    assert store.count("big") == 4500 and len(set(result.ids)) == 4500
    hit = store.search("big", vectors[4321:4322], 1)[0][0]
    assert hit.metadata == {"i": 4321}


def test_data_survives_reopening(engine: str, tmp_path: Path) -> None:
    first = _open(engine, tmp_path / "db")
    first.insert("kept", [[1.0, 0.0], [0.0, 1.0]], [{"n": 1}, {"n": 2}], metric="L2")
    first.close()
    again = _open(engine, tmp_path / "db")
    try:
        assert again.list_collections() == ["kept"]
        assert again.describe_collection("kept").metric == "L2"  # type: ignore[union-attr]
        assert again.count("kept") == 2
        assert again.search("kept", [[0.0, 1.0]], 1)[0][0].metadata == {"n": 2}
    finally:
        again.close()


def test_local_qdrant_cosine_collections_hold_unit_vectors_under_dot(tmp_path: Path) -> None:
    """Local Qdrant divides every stored vector by its norm again on each cosine search, so waza
    stores cosine collections as Dot over unit vectors (the scores stay cosine similarities),
    and still reads and searches Cosine collections another client made."""
    from qdrant_client import models

    store = _open("qdrant", tmp_path / "db")
    engine = store.client  # type: ignore[attr-defined]
    try:
        store.insert("cos", [[3.0, 4.0], [0.0, 2.0]], [{"n": 0}, {"n": 1}], metric="COSINE")
        physical = store.physical("cos")
        distance = engine.get_collection(physical).config.params.vectors.distance
        assert distance == models.Distance.DOT
        points, _ = engine.scroll(physical, with_vectors=True)
        assert [round(float(np.linalg.norm(p.vector)), 5) for p in points] == [1.0, 1.0]
        hits = store.search("cos", [[6.0, 8.0]], 2)[0]
        assert [h.score for h in hits] == pytest.approx([1.0, 0.8], abs=1e-5)  # 8 / (5 * 2)

        theirs = store.physical("theirs")
        engine.create_collection(
            theirs, vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE)
        )
        store.insert("theirs", [[3.0, 4.0], [0.0, 2.0]], [{"n": 0}, {"n": 1}])
        assert store.describe_collection("theirs").metric == "COSINE"  # type: ignore[union-attr]
        hits = store.search("theirs", [[6.0, 8.0]], 2)[0]
        assert [h.score for h in hits] == pytest.approx([1.0, 0.8], abs=1e-5)
    finally:
        store.close()
    again = _open("qdrant", tmp_path / "db")
    try:
        assert again.describe_collection("cos").metric == "COSINE"  # type: ignore[union-attr]
        again.insert("cos", [[0.0, -7.0]], [{"n": 2}])  # normalised after reopening too
        hits = again.search("cos", [[0.0, 1.0]], 3)[0]
        assert [h.score for h in hits] == pytest.approx([1.0, 0.8, -1.0], abs=1e-5)
    finally:
        again.close()


def test_destroy_removes_the_files(engine: str, tmp_path: Path) -> None:
    backend = _open(engine, tmp_path / "db")
    backend.insert("gone", [[1.0, 0.0]])
    assert any((tmp_path / "db").iterdir())
    backend.destroy()
    assert not (tmp_path / "db").exists()


def test_concurrent_inserts_and_searches(store: VectorBackend) -> None:
    store.create_collection("busy", 8)
    rng = np.random.default_rng(2)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        local = np.random.default_rng(seed)
        try:
            for _ in range(10):
                store.insert("busy", local.normal(size=(5, 8)), [{"seed": seed}] * 5)
                assert len(store.search("busy", local.normal(size=(1, 8)), 3)[0]) == 3
        except BaseException as exc:
            errors.append(exc)

    store.insert("busy", rng.normal(size=(3, 8)))
    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count("busy") == 3 + 6 * 10 * 5
