"""Token-aware chunking with character offsets into the original text.

The text is tokenized once with the embedding model's tokenizer (character spans per token). A
chunk is a window of at most `budget` tokens; when the window must be cut, the cut moves back to
the best boundary in the second half of the window: a paragraph break, else the end of a
sentence, else a word boundary, else any token boundary. The next window starts `overlap` tokens
before the previous end, moved forward to the start of a word so no word is split (so the shared
part is *at most* `overlap` tokens).

Offsets are character indices into the source text: `source[chunk.start:chunk.end]` is the
chunk's body exactly. With a preamble, `chunk.text == preamble + source[chunk.start:chunk.end]`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Span = tuple[int, int]
SpansFn = Callable[[str], Sequence[Span]]
CountFn = Callable[[list[str]], list[int]]

# Sentence ends; the ideographic ones (U+3002, U+FF01, U+FF1F) need no space after them.
CJK_END = frozenset("\u3002\uff01\uff1f")
SENTENCE_END = frozenset(".!?\u2026") | CJK_END


@dataclass(frozen=True)
class Chunk:
    """One chunk of a source text."""

    index: int
    text: str
    """What to embed: `preamble + body`."""
    start: int
    """Character offset of the body in the source text."""
    end: int
    """Exclusive end of the body in the source text."""
    token_count: int
    """Tokens of `text` (the model's tokenizer, special tokens not counted)."""
    start_token: int
    end_token: int
    preamble_chars: int = 0

    @property
    def body(self) -> str:
        """The chunk without its preamble: equals `source[start:end]`."""
        return self.text[self.preamble_chars :]

    def metadata(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start_char": self.start,
            "end_char": self.end,
            "start_token": self.start_token,
            "end_token": self.end_token,
            "token_count": self.token_count,
            "preamble_chars": self.preamble_chars,
        }


def _cut(text: str, spans: Sequence[Span], hard_end: int, min_end: int) -> int:
    """The best token index in `[min_end, hard_end]` to end a window at (exclusive end)."""
    word = sentence = 0
    for end in range(hard_end, min_end - 1, -1):
        prev_end, next_start = spans[end - 1][1], spans[end][0]
        gap = text[prev_end:next_start]
        if "\n\n" in gap or "\n\r\n" in gap:
            return end  # a paragraph break: the best place there is
        last = text[prev_end - 1] if prev_end else ""
        if not sentence and ("\n" in gap or (last in SENTENCE_END and (gap or last in CJK_END))):
            sentence = end
        if not word and gap:
            word = end
    return sentence or word or hard_end


def _word_start(text: str, spans: Sequence[Span], index: int, limit: int) -> int:
    """The first token at or after `index` (and before `limit`) that starts a word."""
    for i in range(index, limit):
        if i == 0 or spans[i][0] > spans[i - 1][1]:
            return i
    return limit


def windows(text: str, spans: Sequence[Span], budget: int, overlap: int) -> list[Span]:
    """Token windows `[start, end)` covering every token, each at most `budget` tokens."""
    if budget < 1:
        raise ValueError("budget must be at least 1 token")
    overlap = max(0, min(overlap, budget // 2))
    n = len(spans)
    result: list[Span] = []
    start = 0
    while start < n:
        hard_end = min(start + budget, n)
        end = hard_end
        if hard_end < n:
            end = _cut(text, spans, hard_end, start + max(1, budget // 2))
        result.append((start, end))
        if end >= n:
            break
        start = _word_start(text, spans, max(end - overlap, start + 1), end) if overlap else end
    return result


def chunk_text(
    text: str,
    spans_fn: SpansFn,
    count_fn: CountFn,
    max_tokens: int,
    overlap: int = 0,
    preamble: str = "",
) -> list[Chunk]:
    """Split `text` into chunks of at most `max_tokens` tokens (preamble included).

    `spans_fn(text)` gives each token's `(start, end)` character span, `count_fn(texts)` the token
    count of each text. Raises ValueError when the preamble leaves no room for the text.
    """
    preamble_tokens = count_fn([preamble])[0] if preamble else 0
    budget = max_tokens - preamble_tokens
    if budget < 1:
        raise ValueError(
            f"preamble_text takes {preamble_tokens} tokens, leaving no room in chunks of "
            f"{max_tokens} tokens"
        )
    spans = spans_fn(text)
    cuts = windows(text, spans, budget, overlap)
    bodies = [text[spans[s][0] : spans[e - 1][1]] for s, e in cuts]
    texts = [preamble + body for body in bodies]
    counts = count_fn(texts) if preamble else [e - s for s, e in cuts]
    return [
        Chunk(
            index=i,
            text=texts[i],
            start=spans[s][0],
            end=spans[e - 1][1],
            token_count=counts[i],
            start_token=s,
            end_token=e,
            preamble_chars=len(preamble),
        )
        for i, (s, e) in enumerate(cuts)
    ]
