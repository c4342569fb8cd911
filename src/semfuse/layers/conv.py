"""Convolution blocks of the fusion network's encoders and decoder."""

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _layout(x: Tensor) -> torch.memory_format:
    """channels-last when x's channels are its innermost dimension (as on the fast path), else contiguous."""
    return torch.channels_last if x.dim() == 4 and x.stride(1) == 1 and x.shape[1] > 1 else torch.contiguous_format


def _strips(x: Tensor) -> list[Tensor]:
    """The four one-pixel borders of x (B, C, H, W): top row, bottom row, left column, right column."""
    return [x[:, :, :1, :], x[:, :, -1:, :], x[:, :, :, :1], x[:, :, :, -1:]]


def _border_terms(strips: list[Tensor], weight: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """What the replicated rows and columns add to the top, bottom, left and right borders of a zero-padded 3x3
    convolution, from x's :func:`_strips`: kernel row 0 on x's first row (replicate-padded sideways, which covers
    the corners), kernel row 2 on the last row, kernel column 0 on the first column (zero-padded up and down, so
    the corners are not counted twice) and kernel column 2 on the last column."""
    top, bottom, left, right = strips
    top, bottom = (F.pad(row, (1, 1, 0, 0), mode="replicate") for row in (top, bottom))
    return (F.conv2d(top, weight[:, :, :1, :]), F.conv2d(bottom, weight[:, :, 2:, :]),
            F.conv2d(left, weight[:, :, :, :1], padding=(1, 0)), F.conv2d(right, weight[:, :, :, 2:], padding=(1, 0)))


def _add_borders(out: Tensor, terms: tuple[Tensor, Tensor, Tensor, Tensor]) -> Tensor:
    top, bottom, left, right = terms
    out[:, :, :1, :] += top
    out[:, :, -1:, :] += bottom
    out[:, :, :, :1] += left
    out[:, :, :, -1:] += right
    return out


class _ReplicateConv3x3(torch.autograd.Function):
    """Forward and backward of a replicate-padded 3x3 convolution with the padding as border corrections.

    Backward: one zero-padded ``convolution_backward`` for the whole image, plus the border terms' gradients, which
    are recomputed on one-pixel strips; no image-sized padded tensor or padding gradient is ever made.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _add_borders(F.conv2d(x, weight, bias, padding=1), _border_terms(_strips(x), weight))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        x_dtype, weight_dtype = x.dtype, weight.dtype
        x, weight = x.to(grad.dtype), weight.to(grad.dtype)  # under autocast the forward ran in grad's dtype
        # a slice of a concatenation's gradient: made dense in x's layout here, not transposed by oneDNN
        grad = grad.contiguous(memory_format=_layout(x))
        grad_x, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
            grad, x, weight, [weight.shape[0]] if ctx.has_bias else None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
            [need_x, need_weight, need_bias and ctx.has_bias])
        with torch.enable_grad():
            strips = [strip.detach().requires_grad_(need_x) for strip in _strips(x)]
            kernel = weight.detach().requires_grad_(need_weight)
            terms = _border_terms(strips, kernel)
            inputs = (strips if need_x else []) + ([kernel] if need_weight else [])
            grads = torch.autograd.grad(terms, inputs, _strips(grad)) if inputs else ()
        if need_x:
            for border, strip_grad in zip(_strips(grad_x), grads[:4]):
                border += strip_grad
        if need_weight:
            grad_weight += grads[-1]
            grad_weight = grad_weight.to(weight_dtype)
        if need_x:
            grad_x = grad_x.to(x_dtype)
        if grad_bias is not None:
            grad_bias = grad_bias.to(weight_dtype)
        return grad_x, grad_weight, grad_bias


def conv3x3_replicate(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """``conv(x)`` for a 3x3, stride-1 ``conv`` with replicate padding 1, without building the padded copy of x.

    The convolution runs with zero padding (which oneDNN applies for free) and the four one-pixel borders of the
    result are then corrected by adding what the replicated rows and columns would have contributed. Equal to
    ``conv(x)`` up to float rounding (about 1e-6 relative), gradients included; the padded copy it avoids (and, in
    training, its gradient) is a full pass over x, as slow as the convolution itself for the network's thin layers.
    """
    return _ReplicateConv3x3.apply(x, conv.weight, conv.bias)


class _Upsample2x(torch.autograd.Function):
    """Nearest x2 up-sampling cropped to (height, width), with a fast backward: the gradient of each source pixel
    is the sum of its (up to four) copies', one 2x2 sum-pooling (PyTorch's own backward is slow in channels-last)."""

    @staticmethod
    def forward(ctx, x: Tensor, height: int, width: int) -> Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")[..., :height, :width]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        grad = grad.contiguous(memory_format=_layout(grad))  # a slice of a concatenation's gradient, made dense
        return F.avg_pool2d(grad, 2, ceil_mode=True, divisor_override=1), None, None


def upsample2x_to(x: Tensor, height: int, width: int, fast: bool = False) -> Tensor:
    """Nearest x2 up-sampling of x cropped to (height, width); ``fast``: with :class:`_Upsample2x`'s backward."""
    if fast:
        return _Upsample2x.apply(x, height, width)
    return F.interpolate(x, scale_factor=2.0, mode="nearest")[..., :height, :width]


def cat_upsampled(parts: list[Tensor], low: Tensor) -> Tensor:
    """``torch.cat(parts + [upsample2x_to(low, H, W)], dim=1)`` written straight into one channels-last tensor.

    The up-sampled copy is never made: each of the four phases of the x2 grid (even/odd rows and columns) is one
    strided copy from ``low``. No autograd (used when no gradient is recorded).
    """
    batch, _, height, width = parts[0].shape
    channels = sum(part.shape[1] for part in parts) + low.shape[1]
    out = torch.empty((batch, channels, height, width), dtype=low.dtype, device=low.device,
                      memory_format=torch.channels_last)
    start = 0
    for part in parts:
        out[:, start : start + part.shape[1]].copy_(part)
        start += part.shape[1]
    up = out[:, start:]
    half_height, half_width = height // 2, width // 2  # odd rows and columns
    up[:, :, 0::2, 0::2].copy_(low[:, :, : (height + 1) // 2, : (width + 1) // 2])
    up[:, :, 0::2, 1::2].copy_(low[:, :, : (height + 1) // 2, :half_width])
    up[:, :, 1::2, 0::2].copy_(low[:, :, :half_height, : (width + 1) // 2])
    up[:, :, 1::2, 1::2].copy_(low[:, :, :half_height, :half_width])
    return out


# How a 3x3 kernel's rows (or columns) w0, w1, w2 fall on a source row i of a nearest x2 up-sampling: the up-sampled
# rows 2i and 2i + 1 are both source row i, so output row 2i - 1 sees it through w2, row 2i through w1 + w2, row 2i + 1
# through w0 + w1 and row 2i + 2 through w0.
_UPSAMPLING_ROWS = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def upsampling_kernel(weight: Tensor) -> Tensor:
    """A 3x3 convolution kernel (O, I, 3, 3) on a nearest x2 up-sampled image, as the (I, O, 4, 4) kernel of a
    stride-2 transposed convolution of the image itself (``padding=3``, see :func:`conv_upsampled_leaky_relu`):
    16 multiplications per source pixel instead of 36."""
    rows = _UPSAMPLING_ROWS.to(weight)
    return torch.einsum("ry,oiyx,cx->iorc", rows, weight, rows)


def conv_upsampled_leaky_relu(parts: list[Tensor], low: Tensor, conv: nn.Conv2d, slope: float,
                              padded_output: bool = False) -> Tensor:
    """``leaky_relu(conv(cat(parts + [upsample2x_to(low, H, W)])), slope)`` for inference, with no up-sampled copy.

    ``conv`` is a replicate-padded 3x3 convolution over the concatenation; ``parts`` (B, C_k, H, W), ``low`` (B, C,
    ceil(H / 2), ceil(W / 2)). The up-sampled input's share is one stride-2 transposed convolution of ``low`` with
    :func:`upsampling_kernel`, which writes the full-size output directly. ``low`` is replicate-padded first (the
    replicate padding of an up-sampled image is the up-sampling of the padded image): by one pixel before each side,
    and after it only where the size is even (an odd size's last row is an even one, which reads no row below).
    Each part's share is then added by its own convolution (on the CPU in fp32, oneDNN's in-place sum), so the parts
    are never concatenated either, with the replicate padding as in :func:`conv_leaky_relu` (padded copies of small
    parts, border corrections of large ones); then the activation. Equal to the concatenated form to float
    rounding: the kernel sums taps before multiplying.

    ``padded_output``: return the result replicate-padded by one pixel, (B, O, H + 2, W + 2), ready for a next 3x3
    convolution without padding (:func:`conv_padded_leaky_relu`): every convolution here reaches one pixel further
    out, and that outer ring is then overwritten with copies of its neighbours.
    """
    batch, _, height, width = parts[0].shape
    skip = sum(part.shape[1] for part in parts)
    ring = int(padded_output)
    memory_format = _layout(low)
    kernel = upsampling_kernel(conv.weight[:, skip:]).contiguous(memory_format=memory_format)
    padded = F.pad(low, (1, 1 - width % 2, 1, 1 - height % 2), mode="replicate")
    out = F.conv_transpose2d(padded, kernel, stride=2, padding=3 - ring, output_padding=(height % 2, width % 2))
    out = out.contiguous(memory_format=memory_format)  # (B, O, H + 2 ring, W + 2 ring); no-op if layouts agree
    onednn = _fused_activation_available(low)
    corrected = not _padding_is_cheaper(batch * skip * height * width)
    start = 0
    for index, part in enumerate(parts):  # one convolution per part, each added in place: no concatenated copy
        weight = conv.weight[:, start : start + part.shape[1]].contiguous(memory_format=memory_format)
        bias = conv.bias if index == 0 else None
        if corrected:
            source, padding = part, [1 + ring] * 2
        else:
            source, padding = F.pad(part, (1, 1, 1, 1), mode="replicate"), [ring] * 2
        if onednn:
            torch.ops.mkldnn._convolution_pointwise_.binary(out, source, weight, bias, padding, [1, 1], [1, 1], 1,
                                                            "add", 1.0, None, [], None)
        else:
            out += F.conv2d(source, weight, bias, padding=padding)
        start += part.shape[1]
    if corrected:  # the parts' strips, concatenated: strips of the concatenation
        strips = [torch.cat(pieces, dim=1) for pieces in zip(*(_strips(part) for part in parts))]
        _add_borders(out[:, :, ring : ring + height, ring : ring + width], _border_terms(strips, conv.weight[:, :skip]))
    out = F.leaky_relu_(out, slope)
    return _replicate_ring(out) if padded_output else out


def _replicate_ring(x: Tensor) -> Tensor:
    """Overwrite x's outermost rows and columns with copies of their inner neighbours, in place: x's interior,
    replicate-padded by one pixel (the columns first, then the rows, which carry the corners)."""
    x[:, :, 1:-1, :1] = x[:, :, 1:-1, 1:2]
    x[:, :, 1:-1, -1:] = x[:, :, 1:-1, -2:-1]
    x[:, :, :1] = x[:, :, 1:2]
    x[:, :, -1:] = x[:, :, -2:-1]
    return x


def conv_padded_leaky_relu(padded: Tensor, conv: nn.Conv2d, activation: nn.LeakyReLU) -> Tensor:
    """``activation(conv(x))`` for a 3x3 ``conv`` whose padding is already in ``padded`` (x padded by one pixel)."""
    if _fused_activation_available(padded):
        return torch.ops.mkldnn._convolution_pointwise(padded, conv.weight, conv.bias, [0, 0], [1, 1], [1, 1], 1,
                                                       "leaky_relu", [activation.negative_slope], "")
    return activation(F.conv2d(padded, conv.weight, conv.bias))


# Up to this many elements, a replicate-padded copy of a convolution's input costs less than the border corrections'
# dozen small operations (measured on the project's CPU: 1.4 ms less for 64 channels at 320x240, 0.3 ms more for 16
# channels at 640x480); for larger inputs the copy, a full pass over x, costs more.
_PAD_COPY_LIMIT = 1 << 22


def _padding_is_cheaper(elements: int) -> bool:
    """Whether, in inference, the replicate-padded copy of an input of this many elements costs less than
    correcting the borders of its zero-padded convolution."""
    return elements <= _PAD_COPY_LIMIT


def _fused_activation_available(x: Tensor) -> bool:
    """Whether oneDNN's convolutions with a fused activation or an in-place sum can run x: float32 on the CPU, no
    gradient recorded, no autocast (the fused operators have no autocast rule), and this PyTorch build has them."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled()
            and not torch.is_autocast_enabled("cpu") and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise_"))


def conv_leaky_relu(x: Tensor, conv: nn.Conv2d, slope: float) -> Tensor:
    """``leaky_relu(conv(x), slope)`` for inference, the activation fused into oneDNN's convolution.

    A replicate-padded 3x3 ``conv`` of a small x (:data:`_PAD_COPY_LIMIT`) runs on the padded copy; of a large
    one, it runs zero-padded and its four borders are then corrected as in :func:`conv3x3_replicate`, through the
    activation: each border's pre-activation is recovered (LeakyReLU is invertible: ``y / slope`` where ``y < 0``),
    the border term added and the activation applied again; the corners, in two strips, are corrected one strip
    after the other. Equal to the unfused form to float rounding.
    """
    replicate = conv.padding_mode == "replicate"
    padding = [1, 1] if replicate else list(conv.padding)
    if replicate and _padding_is_cheaper(x.numel()):
        x, padding, replicate = F.pad(x, (1, 1, 1, 1), mode="replicate"), [0, 0], False
    out = torch.ops.mkldnn._convolution_pointwise(x, conv.weight, conv.bias, padding, list(conv.stride),
                                                  list(conv.dilation), conv.groups, "leaky_relu", [slope], "")
    if replicate:
        for border, term in zip(_strips(out), _border_terms(_strips(x), conv.weight)):
            before = torch.where(border < 0, border / slope, border)
            border.copy_(F.leaky_relu(before + term, slope))
    return out


class FastPathMixin:
    """``fast_path``: run the module's replicate-padded 3x3 convolutions through :func:`conv3x3_replicate` (in
    inference with the activation fused, :func:`conv_leaky_relu`) and its up-sampling through
    :func:`upsample2x_to`'s fast backward (set by :meth:`semfuse.models.fusion_net.FusionNet.use_channels_last`);
    off, they run as PyTorch defines them."""

    fast_path = False

    def _conv3x3(self, conv: nn.Conv2d, x: Tensor) -> Tensor:
        return conv3x3_replicate(x, conv) if self.fast_path else conv(x)

    def _conv_act(self, conv: nn.Conv2d, x: Tensor, activation: nn.LeakyReLU) -> Tensor:
        """``activation(conv(x))``, with the convolution's replicate padding as in :meth:`_conv3x3`."""
        if self.fast_path and _fused_activation_available(x):
            return conv_leaky_relu(x, conv, activation.negative_slope)
        return activation(self._conv3x3(conv, x) if conv.kernel_size == (3, 3) else conv(x))


class DenseBlock(FastPathMixin, nn.Module):
    """Two conv3x3 + LeakyReLU(0.2) with dense concatenation, then conv1x1 + LeakyReLU(0.1).

    (B, in_channels, H, W) -> (B, out_channels, H, W). Each conv3x3 adds ``growth`` channels
    (default ``out_channels // 2``) to the running concatenation.
    """

    def __init__(self, in_channels: int, out_channels: int, growth: int | None = None):
        super().__init__()
        growth = growth or max(out_channels // 2, 1)
        self.conv1 = nn.Conv2d(in_channels, growth, 3, padding=1, padding_mode="replicate")
        self.conv2 = nn.Conv2d(in_channels + growth, growth, 3, padding=1, padding_mode="replicate")
        self.fuse = nn.Conv2d(in_channels + 2 * growth, out_channels, 1)
        self.act_dense = nn.LeakyReLU(0.2, inplace=True)  # in place on the convolutions' fresh outputs
        self.act_out = nn.LeakyReLU(0.1, inplace=True)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        x = torch.cat([x, self._conv_act(self.conv1, x, self.act_dense)], dim=1)
        x = torch.cat([x, self._conv_act(self.conv2, x, self.act_dense)], dim=1)
        return self._conv_act(self.fuse, x, self.act_out)


class ConvBlock(FastPathMixin, nn.Module):
    """conv3x3 + LeakyReLU(0.2), twice: (B, in_channels, H, W) -> (B, out_channels, H, W)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="replicate"),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, padding_mode="replicate"),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.out_channels = out_channels

    def _layers(self) -> tuple[nn.Conv2d, nn.LeakyReLU, nn.Conv2d, nn.LeakyReLU]:
        """The four layers of ``body``, typed (``nn.Sequential`` hands out plain modules)."""
        return cast(tuple[nn.Conv2d, nn.LeakyReLU, nn.Conv2d, nn.LeakyReLU], tuple(self.body))

    def forward(self, x: Tensor) -> Tensor:
        conv1, act1, conv2, act2 = self._layers()
        return self._conv_act(conv2, self._conv_act(conv1, x, act1), act2)

    def forward_upsampled(self, parts: list[Tensor], low: Tensor) -> Tensor:
        """``forward(cat(parts + [up]))`` with ``up`` the nearest x2 up-sampling of ``low`` cropped to the parts'
        size, for inference. In float32 on the CPU, the first convolution runs through
        :func:`conv_upsampled_leaky_relu`, which hands the second its input already padded; elsewhere (bf16
        autocast, where the convolutions run on AMX and oneDNN's transposed convolution does not), the
        concatenation is built by :func:`cat_upsampled`."""
        conv1, act1, conv2, act2 = self._layers()
        if not _fused_activation_available(low):  # bf16 autocast: its convolutions are fast, its deconvolution not
            return self(cat_upsampled(parts, low))
        padded = conv_upsampled_leaky_relu(parts, low, conv1, act1.negative_slope, padded_output=True)
        return conv_padded_leaky_relu(padded, conv2, act2)
