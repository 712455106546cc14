"""The report's order of findings, with at most so many per device, decided as the findings are made.

Most severe first, then by first seen, then by device address, ties in the order made. A device's findings
past the cap are folded (counted) as they come: once a device has reached the cap, a heap holds its kept
findings with the one the report would list last on top, so a better finding displaces it. Only the kept
findings' sort keys are in memory (as columns, report.spool.SortKeys; a device below the cap adds two
numbers a finding, its heap ~160 bytes an entry) and the folded ones need never be encoded.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable

from hikscan.report.spool import SortKeys

Key = tuple[int, float, str, int]  # (-severity rank, first seen, ip, made): the report order
Folded = dict[str, tuple[int, Key]]  # ip → (findings folded, its first folded one's key)


class CappedOrder:
    def __init__(self, per_device: int) -> None:
        self.per_device = per_device
        self._keys = SortKeys()
        # per device below the cap: made, record number, … of its findings; at the cap, a heap of
        # (rank, -first seen, -made, record number), its head the one listed last in report order
        self._below: dict[str, array[int]] = {}
        self._kept: dict[str, list[tuple[int, float, int, int]]] = {}
        self._folded: Folded = {}
        self._ips: dict[str, str] = {}  # one string per device address in the keys
        self._made = 0

    def admit(self, rank: int, first: float, ip: str) -> bool:
        """A finding (severity rank, first seen, device address or ""): True if it is kept, and then the
        caller's next record is its; False if the device's cap folds it now."""
        self._made += 1
        made = self._made
        ip = self._ips.setdefault(ip, ip)
        heap = self._kept.get(ip) if ip else None
        if ip and heap is None:
            below = self._below.get(ip)
            if below is None:
                below = self._below[ip] = array("q")
            if len(below) < 2 * self.per_device:
                below.extend((made, len(self._keys)))
                self._keys.add(-rank, first, ip)
                return True
            heap = self._kept[ip] = self._heap(below)
            del self._below[ip]
        if heap is not None:
            if len(heap) >= self.per_device:
                worst = heap[0]
                if (rank, -first) <= worst[:2]:  # listed after the device's last kept one
                    self._fold(ip, (-rank, first, ip, made))
                    return False
                heapq.heappop(heap)
                self._keys.discard(worst[3])
                self._fold(ip, (-worst[0], -worst[1], ip, -worst[2]))
            heapq.heappush(heap, (rank, -first, -made, len(self._keys)))
        self._keys.add(-rank, first, ip)
        return True

    def _heap(self, below: array[int]) -> list[tuple[int, float, int, int]]:
        """A device's kept findings (made, record number, …) as its heap, now that it reached the cap."""
        heap = []
        for made, index in zip(below[0::2], below[1::2], strict=True):
            negative_rank, first = self._keys.key(index)  # as the report sorts: most severe first
            heap.append((-negative_rank, -first, -made, index))
        heapq.heapify(heap)
        return heap

    def _fold(self, ip: str, key: Key) -> None:
        count, first = self._folded.get(ip, (0, key))
        self._folded[ip] = (count + 1, min(first, key))

    def order(self) -> list[int]:
        """The kept records' numbers in report order."""
        return self._keys.order()

    def sort_key(self, index: int) -> tuple[int, float, str]:
        """Record `index`'s place in the report order, less the order made (-rank, first seen, ip)."""
        return self._keys.sort_key(index)

    def folded(self) -> dict[str, int]:
        """Device → findings folded, devices in the order the report meets their first folded one."""
        return folded_in_order([self._folded])

    def folded_keys(self) -> Folded:
        return dict(self._folded)


def folded_in_order(parts: Iterable[Folded]) -> dict[str, int]:
    """CappedOrder.folded() of orders that each saw all the findings of their devices (passive.shares)."""
    items = [item for part in parts for item in part.items()]
    return {ip: n for ip, (n, _key) in sorted(items, key=lambda kv: kv[1][1])}
