"""gc_paused: no automatic collection inside, nothing left for the youngest generation after,
and cyclic garbage made inside is still collectable."""

from __future__ import annotations

import gc
import weakref

from dr_orchestrator.gcpause import gc_paused


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_collector_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nests
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_objects_made_while_paused_do_not_wait_in_the_youngest_generation() -> None:
    gc.collect()
    with gc_paused():
        keep = [[i] for i in range(50_000)]
        assert gc.get_count()[0] >= 50_000
    # Promoted to the oldest generation: young collections never scan them again.
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(item) in oldest for item in keep[::1000])


def test_cycles_made_while_paused_are_still_collected() -> None:
    with gc_paused():
        a, b = Node(), Node()
        a.other, b.other = b, a
        probe = weakref.ref(a)
        del a, b
    assert probe() is not None  # a cycle: reference counting alone cannot free it
    gc.collect()
    assert probe() is None
