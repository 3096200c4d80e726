"""The resources drawing a sample needs, held explicitly (no module-level caches): the hand model,
the job's asset library, the pose sampler's penetration meter and the last few posed hands (the
sample is framed with the same posed hand the worker then renders).

    ctx = SampleContext.for_job(job)            # once per process (loads the hand model)
    sample = draw_sample(job, index, ctx)
"""
from __future__ import annotations

import collections
import functools
import json

import numpy as np

from generator.sample.library import Library, resolve_library

POSED_CACHE_SIZE = 4


def load_hand(job):
    """The job's hand model (anny by default; MANO from hand.mano_dir)."""
    from generator.hand import load_hand_model
    if job.hand.model == "mano":
        return load_hand_model("mano", mano_dir=job.hand.mano_dir or None,
                               forearm_length=job.hand.forearm_length)
    return load_hand_model(job.hand.model, forearm_length=job.hand.forearm_length)


class SampleContext:
    def __init__(self, hand, library: Library):
        self.hand = hand
        self.library = library
        self._posed: collections.OrderedDict = collections.OrderedDict()

    @classmethod
    def for_job(cls, job, textures: list[dict] | None = None, hand=None) -> "SampleContext":
        """Load the job's hand (unless given) and resolve its library (``textures``: the texture
        set's variants, read from ``appearance.texture_dir`` when None)."""
        return cls(hand if hand is not None else load_hand(job), resolve_library(job, textures))

    @functools.cached_property
    def meter(self):
        """The pose sampler's penetration meter for this hand (built once: it precomputes)."""
        from generator.hand.penetration import PenetrationMeter
        return PenetrationMeter.for_model(self.hand)

    def posed(self, pose, shape: dict, side: str):
        """hand.forward for one pose (a HandBatch of one), remembering the last few."""
        pose = np.asarray(pose, np.float64)
        key = (side, pose.tobytes(), json.dumps(shape, sort_keys=True))
        batch = self._posed.pop(key, None)
        if batch is None:
            batch = self.hand.forward(pose[None], shape, side)
        self._posed[key] = batch
        while len(self._posed) > POSED_CACHE_SIZE:
            self._posed.popitem(last=False)
        return batch
