"""``petseg eval --devices N`` (or under torchrun): each rank scores a contiguous block of the
split (`engine.train.distributed.block_of`: nothing padded, nothing counted twice), and rank 0
gathers the ranks' per-photo counts and kept worst photos and joins them into one `Evaluation`.

Joining per-photo confusion tables rather than only pooled intersection/union sums keeps every
figure of a one-process evaluation: pooled Dice/IoU (integer sums, so exactly equal), the
per-image means (the same records in the same split order, so the same float sums) and the
--worst ranking (ties in split order)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from engine.eval.scores import Evaluation
from engine.train.distributed import DistContext, block_of, gather_to_main


@dataclass
class RankShare:
    """What `engine.eval.evaluate.evaluate_checkpoint` needs of a rank: its block, and the gather."""

    ctx: DistContext
    group: Any = None  # the process group the scores travel on (gloo: Python objects)
    gathered: bool = False  # this rank gave its scores (it may then wait for the others at the end)

    def block(self, n: int) -> slice:
        return block_of(n, self.ctx)

    def gather(self, result: Evaluation, keep_worst: int) -> Evaluation | None:
        parts = gather_to_main(result, self.group, self.ctx)
        self.gathered = True
        return None if parts is None else join_evaluations(parts, keep_worst)


def join_evaluations(parts: list[Evaluation], keep_worst: int) -> Evaluation:
    """The ranks' evaluations (of consecutive blocks, in rank order) as one of the whole split."""
    kept = {}
    for ib in sorted({k for p in parts for k in p.kept}):
        photos = [photo for p in parts for photo in p.kept.get(ib, [])]
        photos.sort(key=lambda photo: photo.record.dice("photo", ib))  # stable: ties stay in split order
        kept[ib] = photos[:keep_worst]
    return dataclasses.replace(
        parts[0], records=[r for p in parts for r in p.records], skipped=[s for p in parts for s in p.skipped],
        kept=kept, seconds=max(p.seconds for p in parts))  # the ranks score at once: the longest is the wall time
