"""gql_app.core.collector: the garbage collector of a serving process."""

import gc
from collections.abc import Iterator

import pytest

from gql_app.core.collector import tune_collector
from gql_app.core.config import Settings
from tests.support.app import running_app


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The thresholds before the test, restored after it."""
    before = gc.get_threshold()
    yield before
    gc.unfreeze()
    gc.set_threshold(*before)


def test_the_young_threshold_is_set_and_the_older_ones_kept(
    thresholds: tuple[int, int, int],
) -> None:
    tune_collector(4321)
    assert gc.get_threshold() == (4321, *thresholds[1:])


def test_what_start_up_left_alive_is_frozen(thresholds: tuple[int, int, int]) -> None:
    gc.unfreeze()
    tune_collector(thresholds[0])
    assert gc.get_freeze_count() > 0


async def test_starting_the_app_applies_gc_young_threshold(
    settings: Settings, thresholds: tuple[int, int, int]
) -> None:
    async with running_app(settings.model_copy(update={"gc_young_threshold": 2345})):
        assert gc.get_threshold()[0] == 2345
