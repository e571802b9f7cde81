"""StyleGAN2 components (mapping, synthesis, modulated layers) re-implemented for PanoRig."""

from .layers import FullyConnectedLayer, SynthesisLayer, ToRGBLayer, modulated_conv2d
from .mapping import MappingNetwork
from .synthesis import Backbone, SynthesisBlock, SynthesisNetwork

__all__ = [
    "Backbone",
    "FullyConnectedLayer",
    "MappingNetwork",
    "SynthesisBlock",
    "SynthesisLayer",
    "SynthesisNetwork",
    "ToRGBLayer",
    "modulated_conv2d",
]
