"""coverage.run.overlay_tiled against plain shapely: the area inside equals the intersection's and
the gap the difference, for features inside, outside, across tile lines and across the edge."""

from __future__ import annotations

import numpy as np
import shapely

from cityplan.coverage.run import overlay_tiled


def test_overlay_equals_intersection_and_difference():
    rng = np.random.default_rng(3)
    centres = rng.uniform(0, 5000, size=(400, 2))
    area = shapely.union_all(shapely.buffer(shapely.points(centres[:60]), rng.uniform(100, 600, 60)))
    xy = rng.uniform(-200, 5200, size=(300, 2))
    feats = shapely.buffer(shapely.points(xy), rng.uniform(20, 300, 300), quad_segs=3)
    feats = np.concatenate([feats, [None, shapely.Polygon()]])  # no geometry: nothing inside, gap as is
    inside, gaps = overlay_tiled(feats, area, tile_m=700.0)
    real = feats[:300]
    want_in = shapely.area(shapely.intersection(real, area))
    want_gap = shapely.difference(real, area)
    np.testing.assert_allclose(inside[:300], want_in, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(shapely.area(gaps[:300]), shapely.area(want_gap), rtol=1e-9, atol=1e-6)
    # the same gap shapes (tile cuts may add vertices on straight edges, so not vertex-equal)
    assert shapely.area(shapely.symmetric_difference(gaps[:300], want_gap)).max() < 1e-6
    # every case occurs: wholly inside, wholly outside, partly
    share = want_in / shapely.area(real)
    assert (share == 0).any() and (share > 1 - 1e-12).any() and ((share > 0.01) & (share < 0.99)).any()
    assert inside[300] == inside[301] == 0.0 and gaps[300] is None and gaps[301].is_empty
