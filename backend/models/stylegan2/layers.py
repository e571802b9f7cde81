"""StyleGAN2 building blocks: equalised-lr linear layer, modulated convolution, synthesis
and ToRGB layers.

Parameters are stored unscaled and multiplied by their run-time gains, exactly as StyleGAN2
stores them, so official weights load without conversion.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kernels import compiled

from ..fast_path import is_active, runs_channels_last
from .resample import fir_filter, upsample_conv2d

LRELU_GAIN = math.sqrt(2.0)
LRELU_SLOPE = 0.2


def _gain(activation: str, gain: float | None) -> float | None:
    """The activation's output gain: sqrt(2) for the rectifiers unless one is given."""
    return LRELU_GAIN if gain is None and activation in ("lrelu", "relu") else gain


def bias_act(
    x: torch.Tensor,
    bias: torch.Tensor | None,
    activation: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Add ``noise`` (broadcast) and a per-channel bias (channel dim 1), apply the activation,
    scale by its gain, clamp."""
    if noise is not None:
        x = x + noise.to(x.dtype)
    if bias is not None:
        x = x + bias.reshape([1, -1] + [1] * (x.ndim - 2))
    if activation == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    elif activation == "relu":
        x = F.relu(x)
    elif activation != "linear":
        raise ValueError(f"unknown activation {activation!r}")
    gain = _gain(activation, gain)
    if gain is not None and gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def _bias_act_nchw(x: torch.Tensor, bias: torch.Tensor | None, **kwargs) -> torch.Tensor:
    """``bias_act`` written NCHW, also from the channels-last maps of the fast path's
    upsampling layers (see ``fast_path.runs_channels_last``)."""
    return bias_act(x, bias, **kwargs).contiguous()


# The fast path's epilogue: the same operations compiled into one elementwise pass, bit for bit
# the reference's (StyleGAN2's CUDA bias_act plugin fuses the same steps).
_fused_bias_act = compiled(_bias_act_nchw, _bias_act_nchw, "bias_act", dynamic=True)


def _activation_grad(
    grad: torch.Tensor,
    y: torch.Tensor,
    activation: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
    layout: torch.memory_format = torch.contiguous_format,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``bias_act``'s gradient by its input, in ``layout``, from its output ``y`` (the slope's
    sign is y's, and a clamped value sits at the bound), and the bias's gradient."""
    gain = _gain(activation, gain)
    if activation in ("lrelu", "relu"):
        slope = LRELU_SLOPE if activation == "lrelu" else 0.0
        grad = torch.where(y > 0, grad * gain, grad * (slope * gain))
    elif gain is not None and gain != 1:
        grad = grad * gain
    if clamp is not None:
        grad = torch.where(y.abs() < clamp, grad, 0.0)
    return grad.contiguous(memory_format=layout), grad.sum(dim=[0, 2, 3])


_fused_activation_grad = compiled(
    _activation_grad, _activation_grad, "bias_act gradient", dynamic=True
)


class _FusedBiasActFunction(torch.autograd.Function):
    """The fused epilogue where gradients are wanted. Compiled through autograd, the pass also
    wrote two masks as bytes and ran at a fifth of its no-grad speed; here the forward is the
    no-grad pass and the backward works from the output alone, as StyleGAN2's bias_act plugin
    does, in one compiled pass with the bias's sum. That pass reads the gradient in whatever
    layout it comes and writes the input's gradient in the input's layout (channels-last from
    the super-resolution's upsampling), so no map is copied to change layouts on the way."""

    @staticmethod
    def forward(ctx, x, bias, noise, options):
        with torch.no_grad():
            y = _fused_bias_act(x, bias, noise=noise, **options)
        ctx.save_for_backward(y)
        ctx.options = options
        ctx.layout = _memory_format(x)
        ctx.noise_shape = None if noise is None else noise.shape
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        if not (grad.is_contiguous() or _is_channels_last(grad)):  # e.g. a mean's broadcast
            grad = grad.contiguous()
        grad_x, grad_bias = _fused_activation_grad(grad, y, layout=ctx.layout, **ctx.options)
        grad_noise = None
        if ctx.needs_input_grad[2]:  # a trainable noise strength (tuning)
            grad_noise = grad_x.sum(dim=1, keepdim=True).sum_to_size(ctx.noise_shape)
        return grad_x, grad_bias if ctx.needs_input_grad[1] else None, grad_noise, None


def _channel_scale_grads(
    grad: torch.Tensor, x: torch.Tensor, scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradients of ``x * scale`` ([N, C, H, W] by [N, C]) by ``x`` and by ``scale``; the
    first in ``x``'s memory format, which the convolution that made or takes ``x`` expects
    back (written so in the same pass, where a later ``contiguous`` would copy the map)."""
    grad_x = (grad * scale[:, :, None, None]).contiguous(memory_format=_memory_format(x))
    return grad_x, (grad * x).sum(dim=(2, 3))


_fused_channel_scale_grads = compiled(
    _channel_scale_grads, _channel_scale_grads, "channel scale gradient", dynamic=True
)


class _ChannelScaleFunction(torch.autograd.Function):
    """``x * scale`` per channel where gradients are wanted. Autograd's backward writes the
    product of the gradient and ``x`` as a whole map and then sums it; compiled, both
    gradients come from one pass over the two maps."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x, scale)
        return x * scale[:, :, None, None]

    @staticmethod
    def backward(ctx, grad):
        x, scale = ctx.saved_tensors
        grad_x, grad_scale = _fused_channel_scale_grads(grad, x, scale)
        return grad_x, grad_scale


def scale_channels(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``x`` [N, C, H, W] times a per-sample, per-channel ``scale`` [N, C]; with a fused
    backward where the fast path is active."""
    scale = scale.to(x.dtype)
    if is_active() and torch.is_grad_enabled() and (x.requires_grad or scale.requires_grad):
        return _ChannelScaleFunction.apply(x, scale)
    return x * scale.reshape(*scale.shape, 1, 1)


def epilogue(
    x: torch.Tensor,
    bias: torch.Tensor | None,
    activation: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """``bias_act``, fused where the fast path is active."""
    options = {"activation": activation, "gain": gain, "clamp": clamp}
    if not is_active():
        return bias_act(x, bias, noise=noise, **options)
    tensors = [t for t in (x, bias, noise) if t is not None]
    if bias is not None and torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return _FusedBiasActFunction.apply(x, bias, noise, options)
    return _fused_bias_act(x, bias, noise=noise, **options)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """Linear layer with equalised learning rate (weight gain lr/sqrt(in), bias gain lr)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype)
        if self.bias_gain != 1:
            b = b * self.bias_gain
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, self.activation)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    up: bool = False,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    fused: bool = True,
) -> torch.Tensor:
    """Per-sample modulated (and optionally demodulated) convolution; the noise is added by
    the layer's epilogue (``bias_act``).

    ``fused`` runs one grouped convolution with per-sample weights; the unfused form scales the
    activations instead. Both compute the same function.
    """
    batch = x.shape[0]
    _, in_ch, kh, kw = weight.shape
    if fused and kh > 1 and is_active() and _fitting_styles(weight, styles, x):
        fused = False
    channels_last = runs_channels_last(x, up)
    if x.dtype == torch.float16 and demodulate:
        # Pre-normalise so the fp16 products below cannot overflow (demodulation undoes it).
        weight = weight * (
            1 / math.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        )
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    dcoefs = None
    w = None
    if demodulate or fused:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()

    def conv(inp: torch.Tensor, wt: torch.Tensor, groups: int) -> torch.Tensor:
        if up:
            if channels_last:
                inp = _channels_last(inp)
            return upsample_conv2d(inp, wt, resample_filter, padding=padding, groups=groups)
        return F.conv2d(inp, wt, padding=padding, groups=groups)

    if not fused:
        x = conv(scale_channels(x, styles), weight.to(x.dtype), 1)
        return x if dcoefs is None else scale_channels(x, dcoefs)

    if dcoefs is not None:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)
    if kh == kw == 1 and not up and is_active():
        # A 1x1 convolution is a matrix product; oneDNN's convolution runs it at a fraction of
        # the speed when it has few output channels (ToRGB's 3).
        out = torch.bmm(w.reshape(batch, -1, in_ch).to(x.dtype), x.reshape(batch, in_ch, -1))
        return out.reshape(batch, -1, *x.shape[2:])
    x = x.reshape(1, -1, *x.shape[2:])
    x = conv(x, w.reshape(-1, in_ch, kh, kw).to(x.dtype), batch)
    return x.reshape(batch, -1, *x.shape[2:])


# Fitting a latent to a photo, the weights are frozen: the unfused form's convolution then needs
# no weight gradient, where the fused one's per-sample weights do (StyleGAN2 itself trains
# unfused). Its scalings cost a few passes over the maps instead, which pays where the
# convolution is large: a release-size W+ step took 14.6 -> 12.5 s with the super-resolution's
# maps unfused. Counting multiply-adds also takes the backbone's 32^2-128^2 layers (2-10 G each;
# its forward + backward measured 2.42 -> 2.36 s, within this machine's noise) and leaves the
# demo's (0.15 G) fused, which took 8% longer unfused.
UNFUSED_FIT_FROM = 10**9  # multiply-adds of the convolution


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` [N, C, H, W] with channels-last strides throughout. ``contiguous`` keeps a map whose
    size-1 batch has another stride (a reshape gives one), and oneDNN then takes it for NCHW:
    its transposed convolution ran at half speed and wrote NCHW."""
    n, c, h, w = x.shape
    if x.stride() == (h * w * c, 1, w * c, c):
        return x
    out = torch.empty_like(x, memory_format=torch.channels_last)
    return out.copy_(x)


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    """The layout a gradient by ``x`` is written in: ``x``'s own."""
    return torch.channels_last if _is_channels_last(x) else torch.contiguous_format


def _fitting_styles(weight: torch.Tensor, styles: torch.Tensor, x: torch.Tensor) -> bool:
    """Whether gradients flow to the styles but not to the frozen weights, of a large
    convolution."""
    return (
        torch.is_grad_enabled()
        and styles.requires_grad
        and not weight.requires_grad
        and x.shape[-2] * x.shape[-1] * weight.numel() >= UNFUSED_FIT_FROM
    )


NOISE_MODES = ("const", "random", "none")


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution with demodulation, optional 2x upsampling, noise, bias, lrelu."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: bool = False,
        conv_clamp: float | None = None,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resolution = resolution
        self.up = up
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", fir_filter())
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const", fused: bool = True
    ) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if noise_mode == "random":
            noise = (
                torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device)
                * self.noise_strength
            )
        elif noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(
            x,
            self.weight,
            styles,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            fused=fused,
        )
        return epilogue(
            x, self.bias.to(x.dtype), activation="lrelu", clamp=self.conv_clamp, noise=noise
        )


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution without demodulation (features -> image channels)."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return epilogue(x, self.bias.to(x.dtype), clamp=self.conv_clamp)
