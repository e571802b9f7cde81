"""The default mesh region of each kind of generator: where its subject sits in the box.

PanoHead's heads are complete all round, so only the box border is trimmed. EG3D's releases are
front-facing: their volume also holds the background (shoulders, walls, a backdrop merged with
the back of the head), so a face is cut out with a box around it and a flat cut behind it.
ShapeNet cars are rendered on white from all round, so like PanoHead nothing else is in the box.
"""

from __future__ import annotations

import dataclasses

from .density_grid import GridRegion

# World units, box_warp 1. The faces' box follows what the frontal training camera (radius 2.7,
# 13.4 degree field of view, pivot (0, 0, 0.2)) frames: about +-0.32 around the pivot. AFHQ's
# pivot sits further back (z -0.06) and cats' ears reach higher.
SUBJECT_REGIONS: dict[str, GridRegion] = {
    "head": GridRegion(),
    "face": GridRegion(bounds=((-0.32, 0.32), (-0.36, 0.38), (-0.5, 0.5)), back_z=-0.12),
    "cat": GridRegion(bounds=((-0.36, 0.36), (-0.34, 0.42), (-0.5, 0.5)), back_z=-0.22),
    "car": GridRegion(),
}


def region_for(G, border: float, neck_y: float | None) -> GridRegion:
    """The mesh region of ``G``'s subject ("head" for stand-ins without one), with the user's
    ``border`` trim and ``neck_y`` cut."""
    subject = getattr(G.config, "subject", "head")
    return dataclasses.replace(SUBJECT_REGIONS[subject], border=border, neck_y=neck_y)
