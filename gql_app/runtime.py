"""Process tuning for serving: the cyclic garbage collector.

CPython starts a young-generation collection every 700 net container allocations. A GraphQL
response builds thousands of dicts and lists, so with the defaults a large request triggers
dozens of collections, each also walking the survivors; under load that was half of the
server's CPU. Start-up objects (modules, the schema, settings) live as long as the process:
frozen, the collector never walks them again. Reference counting still frees everything
that is not in a cycle, so the larger first threshold costs little memory.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """Raise the collection thresholds and freeze what start-up left alive."""
    gc.collect()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
