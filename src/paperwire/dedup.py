"""Near-duplicate detection without all-pairs comparison: MinHash-LSH over abstract shingles.

Each paper gets a MinHash signature of its abstract's word 3-shingles (datasketch's scheme,
vectorised over a batch) and a few LSH keys: one per band of the signature, plus one for its exact
normalised title. Papers sharing a key are candidates; a candidate is a duplicate when the
signatures agree on at least ``threshold`` of their values (the estimated Jaccard similarity), or
when a long title is identical and the abstracts still overlap.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from paperwire.normalize import title_key

NUM_PERM = 32
BANDS = 8
ROWS = NUM_PERM // BANDS
SEED = 1
MAX_HASH = np.uint64((1 << 32) - 1)
EMPTY = np.uint32(0xFFFFFFFF)  # signature value of an empty shingle set
MIN_TITLE_WORDS = 4  # shorter titles ("Editorial", "Introduction") are too common to match on
TITLE_MATCH_MIN_SIMILARITY = 0.3
CHUNK_SHINGLES = 200_000  # bounds the temporary (NUM_PERM x shingles) matrix to ~50 MB


def _permutations(num_perm: int = NUM_PERM, seed: int = SEED) -> tuple[npt.NDArray[np.uint32], ...]:
    # datasketch's default "affine32" scheme (h -> a*h + b mod 2^32, a odd), so signatures match
    # datasketch.MinHash value for value; no modulo by a prime, so it vectorises cheaply
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


_A, _B = _permutations()


def _fmix32(values: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    # MurmurHash3's finaliser, which datasketch applies before the affine permutations
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


# Odd 64-bit multipliers for mixing a band's rows into one key.
_BAND_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5])


WORD = re.compile(r"[^\W_]+")
SHINGLE = 3
# Odd multipliers combining three word hashes into one shingle hash.
_SHINGLE_MIX = (np.uint64(0x9E3779B1), np.uint64(0x85EBCA77))
# For ASCII text, WORD over the lowercased text is: letters and digits, lowercased; all else splits.
_ASCII_WORDS = bytes(ord(chr(c).lower()) if chr(c).isalnum() else 32 for c in range(128)) + bytes(128)


def _words(text: str) -> list[bytes]:
    """A text's words (WORD over the lowercased text), UTF-8 encoded."""
    return _spaced(text).split()


def _spaced(text: str) -> bytes:
    """A text's words (WORD over the lowercased text), UTF-8 encoded, between runs of spaces."""
    if text.isascii():  # most abstracts: bytes.translate, no regex, ~3x faster
        return text.encode().translate(_ASCII_WORDS)
    # a word holds no ASCII whitespace (nor any byte < 0x80 that is not a letter or digit)
    return b" ".join(word.encode() for word in WORD.findall(text.lower()))


def _crc_table() -> npt.NDArray[np.uint32]:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> np.uint32(1)) ^ np.uint32(0xEDB88320), table >> np.uint32(1))
    return table.astype(np.uint32)


_CRC = _crc_table()  # zlib.crc32's, a byte at a time
_LONG_WORD = 48  # bytes: longer words (rare) are hashed one by one with zlib.crc32


def _word_hashes(data: bytes) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """zlib.crc32 of each word of `data` (words between runs of spaces), and where each starts.

    All words at once, a byte position at a time over the words still that long: ~3x faster than
    a bytes object and a crc32 call per word."""
    chars = np.frombuffer(data, dtype=np.uint8)
    is_word = np.concatenate(([False], chars != 32, [False]))
    edges = np.flatnonzero(is_word[1:] != is_word[:-1])
    starts, ends = edges[0::2], edges[1::2]
    lengths = ends - starts
    hashes = np.empty(len(starts), dtype=np.uint32)
    long = lengths > _LONG_WORD
    for index in np.flatnonzero(long).tolist():
        hashes[index] = zlib.crc32(data[starts[index] : ends[index]])
    short = np.flatnonzero(~long)
    # longest first, so that the words still going at each position are a prefix
    order = short[np.argsort(_LONG_WORD - lengths[short].astype(np.uint8), kind="stable")]
    first, sizes = starts[order], lengths[order]
    crc = np.full(len(order), 0xFFFFFFFF, dtype=np.uint32)
    still = np.searchsorted(-sizes, -np.arange(int(sizes[0]) if len(sizes) else 0), side="left")
    for position, count in enumerate(still.tolist()):
        c = crc[:count]
        crc[:count] = _CRC[(c ^ chars[first[:count] + position]) & np.uint32(0xFF)] ^ (c >> np.uint32(8))
    hashes[order] = crc ^ np.uint32(0xFFFFFFFF)
    return hashes.astype(np.uint64), starts


def _shingle_values(texts: Sequence[str]) -> tuple[npt.NDArray[np.uint64], list[int]]:
    """The 32-bit hashes of each text's word 3-shingles (the whole text when shorter), concatenated,
    repeats kept; and how many belong to each text (0 for a text without words)."""
    spaced = [_spaced(t) for t in texts]
    # texts joined by a space, so that no word spans two; the words of each are counted by where
    # they start
    offsets = np.cumsum([0] + [len(s) + 1 for s in spaced])
    hashed, starts = _word_hashes(b" ".join(spaced))
    per_text = np.bincount(np.searchsorted(offsets, starts, side="right") - 1, minlength=len(texts))
    word_counts = per_text.tolist()
    counts = [n - SHINGLE + 1 if n >= SHINGLE else min(n, 1) for n in word_counts]
    # the words of the texts of one or two words are dropped here: such a text is one shingle
    is_long = np.repeat(per_text >= SHINGLE, per_text)
    hashed = hashed[is_long]
    with np.errstate(over="ignore"):
        mixed = hashed[:-2] * _SHINGLE_MIX[0] + hashed[1:-1] * _SHINGLE_MIX[1] + hashed[2:]
    # shingles start at every word but the last two of each text: drop those that span two texts
    lengths = per_text[per_text >= SHINGLE]
    keep = np.ones(len(hashed), dtype=bool)
    ends = np.cumsum(lengths)
    keep[ends - 1] = keep[ends - 2] = False
    long_values = (mixed & MAX_HASH)[keep[:-2]] if len(hashed) else np.empty(0, dtype=np.uint64)
    # a text of one or two words is one shingle: the hash of the whole text
    short = [
        zlib.crc32(b" ".join(s.split())) for s, n in zip(spaced, word_counts, strict=True) if 0 < n < SHINGLE
    ]
    if not short:
        return long_values, counts
    values = np.empty(sum(counts), dtype=np.uint64)
    is_short = np.repeat([0 < n < SHINGLE for n in word_counts], counts)
    values[is_short] = short
    values[~is_short] = long_values
    return values, counts


def shingle_hashes(text: str) -> npt.NDArray[np.uint64]:
    """The distinct 32-bit hashes of a text's word 3-shingles (the whole text when shorter)."""
    return np.unique(_shingle_values([text])[0])


def signatures(texts: Sequence[str]) -> npt.NDArray[np.uint32]:
    """MinHash signatures (len(texts) x NUM_PERM) of each text's word 3-shingles."""
    result = np.full((len(texts), NUM_PERM), EMPTY, dtype=np.uint32)
    start = 0
    while start < len(texts):
        # at most CHUNK_SHINGLES shingles at a time (a word takes two characters or more)
        stop, total = start, 0
        while stop < len(texts) and (total == 0 or total + len(texts[stop]) // 2 + 1 <= CHUNK_SHINGLES):
            total += len(texts[stop]) // 2 + 1
            stop += 1
        values, counts = _shingle_values(texts[start:stop])
        _fill(result[start:stop], values, np.array(counts, dtype=np.int64))
        start = stop
    return result


def _fill(out: npt.NDArray[np.uint32], values: npt.NDArray[np.uint64], counts: npt.NDArray[np.int64]) -> None:
    # the minimum of each permutation over each text's values; repeats do not change a minimum
    nonempty = np.flatnonzero(counts)
    if len(nonempty) == 0:
        return
    mixed = _fmix32(values.astype(np.uint32))
    permuted = _A[:, None] * mixed[None, :] + _B[:, None]  # wraps mod 2^32, as intended
    offsets = np.concatenate(([0], np.cumsum(counts[nonempty])[:-1]))
    out[nonempty] = np.minimum.reduceat(permuted, offsets, axis=1).T


def band_keys(signatures: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
    """The LSH bucket keys (n x BANDS, signed 64-bit) of a batch of signatures."""
    rows = signatures.astype(np.uint64).reshape(len(signatures), BANDS, ROWS)
    with np.errstate(over="ignore"):
        mixed = (rows * _BAND_MIX[:ROWS].astype(np.uint64)).sum(axis=2) + np.arange(BANDS, dtype=np.uint64)
        mixed = mixed * np.uint64(0xFF51AFD7ED558CCD)
    keys: npt.NDArray[np.int64] = mixed.astype(np.int64)
    return keys


def title_hash(title: str) -> int | None:
    """The bucket key of a long-enough normalised title; None for short or empty titles."""
    key = title_key(title)
    if len(key.split()) < MIN_TITLE_WORDS:
        return None
    digest = hashlib.blake2b(b"title:" + key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def similarity(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> float:
    """Estimated Jaccard similarity of two signatures (0 when either text was empty)."""
    if bool(np.all(a == EMPTY) or np.all(b == EMPTY)):
        return 0.0
    return float(np.mean(a == b))


@dataclass(slots=True)
class Fingerprint:
    """What near-duplicate detection keeps of a paper."""

    signature: npt.NDArray[np.uint32]
    title_hash: int | None
    keys: list[int] = field(default_factory=list)  # LSH buckets it is filed under; empty when loaded

    @property
    def empty(self) -> bool:
        return bool(np.all(self.signature == EMPTY))

    def to_bytes(self) -> bytes:
        return self.signature.astype("<u4").tobytes()

    @classmethod
    def from_stored(cls, blob: bytes, title_hash: int | None) -> Fingerprint:
        return cls(np.frombuffer(blob, dtype="<u4").astype(np.uint32), title_hash)


@dataclass(slots=True)
class Prints:
    """The fingerprints of a batch of papers in arrays and lists, to pickle ~10x faster."""

    signatures: npt.NDArray[np.uint32]  # one row per paper
    title_hashes: list[int | None]
    keys: list[list[int]]

    @classmethod
    def of(cls, fingerprints: Sequence[Fingerprint]) -> Prints:
        rows = [f.signature for f in fingerprints]
        return cls(
            np.stack(rows) if rows else np.empty((0, NUM_PERM), dtype=np.uint32),
            [f.title_hash for f in fingerprints],
            [f.keys for f in fingerprints],
        )

    def __getitem__(self, index: int) -> Fingerprint:
        return Fingerprint(self.signatures[index], self.title_hashes[index], self.keys[index])


def fingerprints(titles: Sequence[str], abstracts: Sequence[str]) -> list[Fingerprint]:
    """Fingerprints of a batch of papers, with their LSH keys."""
    sigs = signatures(abstracts)
    hashes = [title_hash(title) for title in titles]
    keys = lsh_keys(sigs, hashes)
    # copies, so that keeping one fingerprint does not keep the whole batch's array
    return [Fingerprint(sig.copy(), h, k) for sig, h, k in zip(sigs, hashes, keys, strict=True)]


def lsh_keys(signatures: npt.NDArray[np.uint32], title_hashes: Sequence[int | None]) -> list[list[int]]:
    """The LSH buckets of each paper: one per band of its signature (none for an empty text), and
    the one of its title, if long enough."""
    bands = band_keys(signatures).tolist()
    empty = np.all(signatures == EMPTY, axis=1).tolist()
    return [
        ([] if no_text else band) + ([key] if key is not None else [])
        for band, no_text, key in zip(bands, empty, title_hashes, strict=True)
    ]


def match_score(new: Fingerprint, old: Fingerprint, threshold: float) -> float | None:
    """How strongly `new` duplicates `old`, or None when it does not."""
    score = similarity(new.signature, old.signature)
    if score >= threshold:
        return score
    same_title = new.title_hash is not None and new.title_hash == old.title_hash
    no_abstract = new.empty or old.empty
    if same_title and (no_abstract or score >= TITLE_MATCH_MIN_SIMILARITY):
        return max(score, threshold)
    return None


def best_match(
    new: Fingerprint, candidates: Iterable[tuple[str, Fingerprint]], threshold: float
) -> tuple[str, float] | None:
    """The candidate (key, score) that `new` duplicates best; ties go to the first key in order."""
    best: tuple[str, float] | None = None
    for key, old in candidates:
        score = match_score(new, old, threshold)
        if score is not None and (best is None or score > best[1]):
            best = (key, score)
    return best
