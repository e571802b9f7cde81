"""``rig.npz``: a bound rig as plain arrays (no pickle), for inspection and for the add-on.

The arrays and their names are ``backend.common.rig_arrays``' layout: the rig's fields, with the
fit's flattened to ``fit_<field>``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..common import rig_arrays
from .fit import Fit
from .transfer import Rig


def rig_fields(rig: Rig) -> dict[str, Any]:
    """The rig under the names of ``rig_arrays.FIELDS``."""
    fields = {f.name: getattr(rig, f.name) for f in dataclasses.fields(Rig) if f.name != "fit"}
    fields.update({f"fit_{f.name}": getattr(rig.fit, f.name) for f in dataclasses.fields(Fit)})
    return fields


def save_rig(rig: Rig, path: str | os.PathLike) -> Path:
    """Write ``rig`` to exactly ``path`` (no suffix is added); returns the path written.

    The file appears whole or not at all: it is written beside the target, then renamed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = rig_arrays.to_npz(rig_fields(rig))
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as f:  # a file object: np.savez would append .npz to a name
            np.savez_compressed(f, **arrays)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def load_rig(path: str | os.PathLike) -> Rig:
    """The rig ``save_rig`` wrote; a damaged or foreign file raises ``PanoRigError``."""
    with np.load(path, allow_pickle=False) as npz:
        fields = rig_arrays.from_npz(npz)
    fields["parents"] = tuple(fields["parents"].tolist())
    fit = Fit(**{f.name: fields.pop(f"fit_{f.name}") for f in dataclasses.fields(Fit)})
    return Rig(fit=fit, **fields)
