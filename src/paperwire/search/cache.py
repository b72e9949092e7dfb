"""Recent search results, answered again while the indexes they came from are unchanged.

A popular query, a second look at a results page, a feed reader polling a search feed: each is the
same request again. An entry is good while the generation it was computed under (the keyword and
vector indexes' commit stamps: every ingest or reindex changes them) still holds, and for at most
`ttl` seconds, for what the indexes might not show (a change to the store alone). The cache is
bounded by the number of hits it holds, least recently used first out. (A short ttl costs: every
entry cached in one burst expires in one burst, and the recomputations queue up: bench/WEB.md.)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from paperwire.search.query import SearchRequest
from paperwire.search.results import SearchResults


class ResultCache:
    def __init__(self, max_hits: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_hits, self.ttl, self._clock = max_hits, ttl, clock
        self._entries: OrderedDict[SearchRequest, tuple[Hashable, float, SearchResults]] = OrderedDict()
        self._held = 0  # hits in all entries
        self._lock = threading.Lock()

    def get(self, request: SearchRequest, generation: Hashable) -> SearchResults | None:
        with self._lock:
            entry = self._entries.get(request)
            if entry is None:
                return None
            stored_under, stored_at, results = entry
            if stored_under != generation or self._clock() - stored_at > self.ttl:
                self._drop(request)
                return None
            self._entries.move_to_end(request)
            return results

    def put(self, request: SearchRequest, generation: Hashable, results: SearchResults) -> None:
        if len(results.hits) > self.max_hits:
            return
        with self._lock:
            if request in self._entries:
                self._drop(request)
            self._entries[request] = (generation, self._clock(), results)
            self._held += len(results.hits)
            while self._held > self.max_hits:
                self._drop(next(iter(self._entries)))

    def _drop(self, request: SearchRequest) -> None:
        _, _, results = self._entries.pop(request)
        self._held -= len(results.hits)

    def __len__(self) -> int:
        return len(self._entries)
