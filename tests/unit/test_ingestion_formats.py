"""File formats: what the catalog records, the text RAG chunks, the rows retrieval reads, and a
clear `FileError` for files that are not what their name says."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from waza.services.ingestion import formats
from waza.services.ingestion.formats import FileError


def make_pdf(pages: list[str]) -> bytes:
    """A small valid PDF with one line of Helvetica text per page (pypdf extracts it)."""
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objs: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: (
            "<< /Type /Pages /Kids ["
            + " ".join(f"{p} 0 R" for p in page_ids)
            + f"] /Count {len(pages)} >>"
        ).encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for pid, text in zip(page_ids, pages, strict=True):
        objs[pid] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {pid + 1} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>"
        ).encode()
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 712 Td ({escaped}) Tj ET".encode()
        objs[pid + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for i in sorted(objs):
        offsets[i] = len(out)
        out += f"{i} 0 obj\n".encode() + objs[i] + b"\nendobj\n"
    xref, size = len(out), max(objs) + 1
    out += f"xref\n0 {size}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offsets[i]:010d} 00000 n \n".encode() for i in range(1, size))
    out += f"trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        "text": tmp_path / "notes.txt",
        "markdown": tmp_path / "README.md",
        "csv": tmp_path / "people.csv",
        "tsv": tmp_path / "people.tsv",
        "parquet": tmp_path / "table.parquet",
        "jsonl": tmp_path / "events.jsonl",
        "json": tmp_path / "items.json",
        "pdf": tmp_path / "paper.pdf",
    }
    made["text"].write_text("first line\nsecond line\nthird line")
    made["markdown"].write_text("# Title\n\nSome *markdown* text.\n")
    made["csv"].write_text("id,name,age\n1,ann,31\n2,bob,45\n")
    made["tsv"].write_text("id\tname\n1\tann\n2\tbob\n3\tcid\n")
    pq.write_table(
        pa.table({"id": [1, 2, 3], "score": [0.5, float("nan"), 2.0], "tag": ["a", "b", None]}),
        made["parquet"],
    )
    made["jsonl"].write_text('{"kind": "click", "n": 1}\n{"kind": "view", "n": 2}\n')
    made["json"].write_text(json.dumps([{"sku": "x1", "qty": 2}, {"sku": "y2", "qty": 5}]))
    made["pdf"].write_bytes(make_pdf(["Hello PDF world", "Second page about cats"]))
    return made


@pytest.mark.parametrize(
    ("name", "hint", "expected"),
    [
        ("a.parquet", None, "parquet"),
        ("a.PQ", None, "parquet"),
        ("a.csv", None, "csv"),
        ("a.tsv", None, "tsv"),
        ("a.ndjson", None, "jsonl"),
        ("a.md", None, "markdown"),
        ("a.pdf", None, "pdf"),
        ("a.bin", None, None),
        ("a.bin", "parquet", "parquet"),
        ("a.data", "ndjson", "jsonl"),
        ("a.txt", "no-such-format", "text"),
    ],
)
def test_detect_format(name: str, hint: str | None, expected: str | None) -> None:
    assert formats.detect_format(name, hint) == expected


def test_describe_records_rows_and_schema(files: dict[str, Path]) -> None:
    parquet = formats.describe(files["parquet"], "parquet")
    assert (parquet.rows, parquet.fields) == (
        3,
        [("id", "int64"), ("score", "double"), ("tag", "string")],
    )
    assert parquet.size == files["parquet"].stat().st_size
    csv = formats.describe(files["csv"], "csv")
    assert csv.rows == 2 and [n for n, _ in csv.fields] == ["id", "name", "age"]
    assert formats.describe(files["tsv"], "tsv").rows == 3
    assert formats.describe(files["jsonl"], "jsonl").rows == 2
    assert formats.describe(files["json"], "json").fields == [("sku", "string"), ("qty", "int64")]
    assert formats.describe(files["text"], "text").rows == 3
    assert formats.describe(files["pdf"], "pdf").pages == 2
    props = formats.describe(files["pdf"], "pdf").properties()
    assert props["format"] == "pdf" and props["page_count"] == 2 and "row_count" not in props


def test_extract_text_per_format(files: dict[str, Path]) -> None:
    assert formats.extract_text(files["text"], "text") == files["text"].read_text()
    assert "*markdown*" in formats.extract_text(files["markdown"], "markdown")
    assert formats.extract_text(files["csv"], "csv").startswith("id,name,age\n1,ann")
    lines = formats.extract_text(files["parquet"], "parquet").splitlines()
    assert [json.loads(x) for x in lines] == [
        {"id": 1, "score": 0.5, "tag": "a"},
        {"id": 2, "score": None, "tag": "b"},
        {"id": 3, "score": 2.0, "tag": None},
    ]
    assert formats.extract_text(files["pdf"], "pdf") == "Hello PDF world\n\nSecond page about cats"


def test_arrow_dataset_per_format(files: dict[str, Path]) -> None:
    def rows(kind: str) -> list[dict[str, object]]:
        result: list[dict[str, object]] = (
            formats.arrow_dataset(files[kind], kind).to_table().to_pylist()
        )
        return result

    assert rows("csv")[1] == {"id": 2, "name": "bob", "age": 45}
    assert rows("tsv")[2] == {"id": 3, "name": "cid"}
    assert rows("jsonl") == [{"kind": "click", "n": 1}, {"kind": "view", "n": 2}]
    assert rows("json")[1] == {"sku": "y2", "qty": 5}
    assert rows("text")[1] == {"line_number": 2, "text": "second line"}
    assert rows("pdf") == [
        {"page": 1, "text": "Hello PDF world"},
        {"page": 2, "text": "Second page about cats"},
    ]
    assert len(rows("parquet")) == 3


def test_a_single_json_object_is_one_row(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text('{"a": 1, "b": "x"}')
    assert formats.arrow_dataset(path, "json").to_table().to_pylist() == [{"a": 1, "b": "x"}]


@pytest.mark.parametrize("kind", ["parquet", "pdf", "csv", "json"])
def test_corrupt_files_raise_a_clear_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"broken.{kind}"
    content = {
        "parquet": b"PAR1 this is not parquet at all",
        "pdf": b"%PDF-1.4\nnot really a pdf",
        "csv": b"a,b\n1,2,3\n",
        "json": b'{"a": [1, 2',
    }[kind]
    path.write_bytes(content)
    with pytest.raises(FileError) as caught:
        formats.describe(path, kind)
    assert str(path) in str(caught.value)


def test_binary_data_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "blob.txt"
    path.write_bytes(b"\x00\x01\x02 binary")
    with pytest.raises(FileError, match="binary"):
        formats.extract_text(path, "text")


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("café".encode("latin-1"))
    assert formats.extract_text(path, "text") == "caf\ufffd"
