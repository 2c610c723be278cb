"""Process tuning applied when the app starts serving."""

import gc

from gql_app.config import Settings
from gql_app.runtime import GC_THRESHOLDS
from tests.conftest import running_app


def _untuned() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)


async def test_starting_the_app_raises_gc_thresholds(settings: Settings) -> None:
    _untuned()
    async with running_app(settings):
        assert gc.get_threshold() == GC_THRESHOLDS


async def test_starting_the_app_freezes_what_start_up_left_alive(settings: Settings) -> None:
    _untuned()
    async with running_app(settings):
        assert gc.get_freeze_count() > 0
