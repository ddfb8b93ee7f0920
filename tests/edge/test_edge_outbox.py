"""The outbox on its own: order, time to live, size bound, seen ids, and a kill in the
middle of a batch (a real process killed with SIGKILL) leaving the batch whole or absent."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from serving.edge.runtime.outbox import Outbox, Outgoing


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rows_come_back_in_order_and_leave_when_deleted(tmp_path: Path) -> None:
    box = Outbox(tmp_path, ttl_s=60, max_rows=100)
    box.add([Outgoing("t", f"{i}".encode(), {"$.mid": str(i)}) for i in range(5)], ["a", "b"])
    rows = box.pending(0, 10)
    assert [r.payload for r in rows] == [b"0", b"1", b"2", b"3", b"4"]
    assert rows[2].props == {"$.mid": "2"}
    assert [r.payload for r in box.pending(rows[1].id, 2)] == [b"2", b"3"]
    box.add([], sent=[rows[0].id, rows[1].id])
    assert box.size() == 3
    assert box.seen_among(["a", "c"]) == {"a"}


def test_expired_rows_are_dropped_and_counted_but_not_handed_ones(tmp_path: Path) -> None:
    clock = Clock()
    box = Outbox(tmp_path, ttl_s=10, max_rows=100, clock=clock)
    box.add([Outgoing("t", b"short", ttl_s=2), Outgoing("t", b"long")], ["m1"])
    clock.now += 5
    assert box.trim() == 1
    assert [r.payload for r in box.pending(0, 10)] == [b"long"]
    clock.now += 10
    handed = box.pending(0, 10)[0].id
    assert box.trim(after=handed) == 0  # handed to the client: its fate is the client's
    assert box.seen_among(["m1"]) == set()  # answered ids are forgotten after the TTL


def test_size_bound_drops_the_oldest(tmp_path: Path) -> None:
    box = Outbox(tmp_path, ttl_s=60, max_rows=3)
    assert box.add([Outgoing("t", bytes([i])) for i in range(5)]) == 2
    assert [r.payload for r in box.pending(0, 10)] == [bytes([2]), bytes([3]), bytes([4])]


def test_state_survives_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path, ttl_s=60, max_rows=10)
    box.add([Outgoing("t", b"x")], ["mid-1"])
    box.close()
    again = Outbox(tmp_path, ttl_s=60, max_rows=10)
    assert again.size() == 1 and again.seen_among(["mid-1"]) == {"mid-1"}


def test_a_kill_during_writes_leaves_whole_batches(tmp_path: Path) -> None:
    program = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from serving.edge.runtime.outbox import Outbox, Outgoing
        box = Outbox(Path({str(tmp_path)!r}), ttl_s=600, max_rows=10**9)
        print("ready", flush=True)
        n = 0
        while True:
            box.add([Outgoing("t", b"x" * 100) for _ in range(50)], [f"m{{n}}"])
            n += 1
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", program],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    box = Outbox(tmp_path, ttl_s=600, max_rows=10**9)
    size = box.size()
    assert size > 0 and size % 50 == 0
    batches = size // 50
    assert box.seen_among([f"m{batches - 1}", f"m{batches}"]) == {f"m{batches - 1}"}


def test_one_batch_stores_results_forgets_sent_rows_and_keeps_the_bound(tmp_path: Path) -> None:
    clock = Clock()
    box = Outbox(tmp_path, ttl_s=10, max_rows=4, clock=clock)
    box.add([Outgoing("t", bytes([i])) for i in range(3)], ["m1", "m2"])
    first = box.pending(0, 10)
    assert box.add([Outgoing("t", b"x"), Outgoing("t", b"y")], ["m3"], [first[0].id]) == 0
    assert [r.payload for r in box.pending(0, 10)] == [b"\x01", b"\x02", b"x", b"y"]
    assert box.add([Outgoing("t", b"z")]) == 1  # the counted size, not a stale one
    assert box.size() == 4
    assert box.seen_among(["m1", "m3", "other"]) == {"m1", "m3"}
    clock.now += 11
    assert box.seen_among(["m1", "m3"]) == set()
    box.close()


def test_a_failed_batch_rolls_back_and_drops_no_good_results(tmp_path: Path) -> None:
    box = Outbox(tmp_path, ttl_s=60, max_rows=3)
    box.add([Outgoing("t", b"a"), Outgoing("t", b"b")])
    unbindable = object()  # sqlite cannot store it: the batch fails after its rows went in
    try:
        box.add([Outgoing("t", b"x"), Outgoing("t", b"y")], [unbindable])  # type: ignore[list-item]
    except sqlite3.Error:
        pass
    else:
        raise AssertionError("the batch should have failed")
    assert box.size() == 2
    assert box.add([Outgoing("t", b"c")]) == 0  # the count followed the rollback
    assert [r.payload for r in box.pending(0, 10)] == [b"a", b"b", b"c"]
    box.close()
