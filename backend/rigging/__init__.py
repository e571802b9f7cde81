"""Rigging: head rig models (FLAME, open template), fitting, transfer, the rig file."""

from .bind import TEMPLATE, bind_rig, open_rig_model
from .fit import Fit, fit_model
from .head_model import HeadModel
from .lbs import skin
from .rig_file import load_rig, rig_fields, save_rig
from .transfer import Rig, transfer

__all__ = [
    "TEMPLATE",
    "Fit",
    "HeadModel",
    "Rig",
    "bind_rig",
    "fit_model",
    "load_rig",
    "open_rig_model",
    "rig_fields",
    "save_rig",
    "skin",
    "transfer",
]
