"""Chunking logic (`waza.services.embedding.chunking`) with a small word tokenizer, no model.

The tokenizer here splits words and punctuation like BERT's pre-tokenizer does, and splits long
words into 4-character pieces (like word pieces), so cuts inside a word are possible and must be
avoided. The real model's tokenizer is exercised in test_embedding.py.
"""

from __future__ import annotations

import itertools
import re

import pytest

from waza.services.embedding.chunking import Chunk, chunk_text, windows

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def spans(text: str) -> list[tuple[int, int]]:
    out = []
    for m in _TOKEN.finditer(text):
        start, end = m.span()
        out.extend((i, min(i + 4, end)) for i in range(start, end, 4))
    return out


def count(texts: list[str]) -> list[int]:
    return [len(spans(t)) for t in texts]


def chunks(text: str, size: int, overlap: int = 0, preamble: str = "") -> list[Chunk]:
    return chunk_text(text, spans, count, size, overlap, preamble)


def check_offsets(text: str, result: list[Chunk], preamble: str = "") -> None:
    for i, c in enumerate(result):
        assert c.index == i
        assert c.text == preamble + text[c.start : c.end]
        assert c.body == text[c.start : c.end]


def covered_tokens(result: list[Chunk]) -> set[int]:
    return {t for c in result for t in range(c.start_token, c.end_token)}


PROSE = (
    "The first sentence talks about cats. The second one is about dogs and their owners! "
    "Is the third a question? It is.\n\nA new paragraph starts here, with words like "
    "extraordinarily and incomprehensibilities that split into pieces. " * 6
)


def test_every_token_is_in_a_chunk_and_offsets_map_back() -> None:
    result = chunks(PROSE, size=30, overlap=5)
    check_offsets(PROSE, result)
    assert covered_tokens(result) == set(range(len(spans(PROSE))))
    assert all(c.token_count <= 30 for c in result)
    assert result[0].start == 0
    assert result[-1].end == len(PROSE.rstrip())


def test_cuts_prefer_paragraphs_then_sentences_and_never_split_words() -> None:
    result = chunks(PROSE, size=40, overlap=0)
    token_spans = spans(PROSE)
    for c in result[:-1]:
        after = PROSE[c.end : token_spans[c.end_token][0]]
        assert after, f"chunk {c.index} ends inside a word: {c.body[-20:]!r}"
        assert "\n\n" in after or c.body[-1] in ".!?", c.body[-30:]
    assert any("\n\n" in PROSE[c.end : c.end + 3] for c in result)


def test_overlap_is_at_most_the_request_and_starts_at_a_word() -> None:
    result = chunks(PROSE, size=30, overlap=8)
    token_spans = spans(PROSE)
    shared = [a.end_token - b.start_token for a, b in itertools.pairwise(result)]
    assert all(0 <= n <= 8 for n in shared)
    assert sum(shared) > 0  # overlap really happens
    for c in result[1:]:
        i = c.start_token
        assert token_spans[i][0] > token_spans[i - 1][1], "a chunk starts inside a word"


def test_no_overlap_means_chunks_tile_the_tokens() -> None:
    result = chunks(PROSE, size=25)
    assert [c.start_token for c in result[1:]] == [c.end_token for c in result[:-1]]


def test_overlap_is_capped_at_half_a_chunk_so_chunking_always_advances() -> None:
    cuts = windows(PROSE, spans(PROSE), budget=10, overlap=9)
    assert all(b[0] > a[0] for a, b in itertools.pairwise(cuts))
    assert all(a[1] - b[0] <= 5 for a, b in itertools.pairwise(cuts))


def test_text_without_boundaries_is_cut_hard() -> None:
    text = "x" * 400  # one 100-piece "word"
    result = chunks(text, size=30)
    check_offsets(text, result)
    assert [c.token_count for c in result] == [30, 30, 30, 10]


def test_preamble_counts_against_the_budget_and_offsets_point_at_the_body() -> None:
    preamble = "Source: report.md\n"
    result = chunks(PROSE, size=30, overlap=4, preamble=preamble)
    check_offsets(PROSE, result, preamble)
    assert all(c.text.startswith(preamble) for c in result)
    assert all(c.token_count == count([c.text])[0] <= 30 for c in result)
    assert all(c.preamble_chars == len(preamble) for c in result)


def test_a_preamble_that_leaves_no_room_is_refused() -> None:
    with pytest.raises(ValueError, match="preamble_text takes"):
        chunks(PROSE, size=5, preamble="one two three four five six")


def test_short_text_is_one_chunk_and_unicode_offsets_are_characters() -> None:
    text = "  Grüße aus Köln 🙂 — 東京でお会いしましょう。Ça va?  "
    result = chunks(text, size=100)
    assert len(result) == 1
    assert result[0].body == text.strip()
    assert result[0].start == 2
    small = chunks(text, size=4)
    check_offsets(text, small)
    assert covered_tokens(small) == set(range(len(spans(text))))


def test_metadata_names_the_positions() -> None:
    c = chunks(PROSE, size=30)[1]
    meta = c.metadata()
    assert meta["index"] == 1
    assert (meta["start_char"], meta["end_char"]) == (c.start, c.end)
    assert (meta["start_token"], meta["end_token"]) == (c.start_token, c.end_token)
    assert meta["token_count"] == c.token_count
