"""The cyclic garbage collector of a serving process: start-up frozen, young collections rarer.

What start-up leaves alive (modules, the schema, settings, the engine) lives as long as the
process: frozen, no collection walks it again. A young collection runs every
`GC_YOUNG_THRESHOLD` net allocations of container objects (Python's default is 700): a large
answer allocates tens of thousands, and each collection also walks what the request holds
alive, so at 700 a `nested` request ran some 33 of them (bench/RESULTS.md "Reads:
projection, rows and GC"). The older generations keep Python's thresholds, relative to the
young one: raising those as well let garbage pile up and stalled transactions in the soak
(bench/SOAK_RESULTS.md).
"""

from __future__ import annotations

import gc


def tune_collector(young_threshold: int) -> None:
    """Freeze what start-up left alive and set the young generation's threshold."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, older, oldest)
