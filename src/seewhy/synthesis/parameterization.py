"""How the optimized image is parameterized: plain pixels or a scaled Fourier spectrum.

Both map their parameters ``p`` to RGB pixels in [0, 1] the same way (Lucid's
``to_valid_rgb``, Olah et al. 2017, https://distill.pub/2017/feature-visualization/)::

    pixels = sigmoid(offset + D(image(p)))

``image(p)`` is ``p`` itself (``"pixel"``) or ``irfft2(scale * p) / 4`` with
``scale = 1 / max(f, 1 / max(h, w)) ** decay`` (``"fourier"``: every spatial frequency ``f``
gets the same gradient magnitude, so the optimizer is not drawn to high-frequency patterns).
``D`` is Lucid's colour decorrelation (``color_correlation_svd_sqrt``, the square root of
ImageNet's colour covariance, normalized by its largest column norm) or the identity, and
``offset = logit(mean)`` makes ``p = 0`` the model's mean colour, i.e. the all-zero
normalized input of Simonyan et al. 2014. The pixels are what is saved, so the PNG is exactly
the image that was optimized.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seewhy.errors import MethodError

__all__ = [
    "COLOR_CORRELATION_SVD_SQRT",
    "FourierImage",
    "ImageParameterization",
    "PixelImage",
    "make_image",
    "noise_std",
]

#: Lucid's square root of ImageNet's RGB colour covariance (lucid/optvis/param/color.py).
COLOR_CORRELATION_SVD_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]
)
# Lucid's empirical factor that brings the inverse FFT's output to a unit-ish range.
_FOURIER_MAGIC = 4.0
_EPS = 1e-3


def _color_matrix(decorrelate: bool) -> torch.Tensor:
    if not decorrelate:
        return torch.eye(3)
    matrix = COLOR_CORRELATION_SVD_SQRT
    return matrix / matrix.norm(dim=0).max()


class ImageParameterization:
    """Parameters that make a batch of images; ``pixels()`` is differentiable in them.

    Attributes:
        param: the leaf tensor the optimizer updates.
    """

    param: torch.Tensor

    def __init__(self, mean: Sequence[float], decorrelate: bool, device: torch.device) -> None:
        clipped = torch.tensor([min(max(float(m), _EPS), 1 - _EPS) for m in mean], device=device)
        self.offset = torch.logit(clipped).view(1, -1, 1, 1)
        self.color = _color_matrix(decorrelate).to(device)

    def spatial(self) -> torch.Tensor:
        """The (N, 3, H, W) image before colour mixing and the sigmoid."""
        raise NotImplementedError

    def set_spatial(self, image: torch.Tensor) -> None:
        """Set the parameters so that :meth:`spatial` returns ``image``."""
        raise NotImplementedError

    def pixels(self) -> torch.Tensor:
        """The (N, 3, H, W) RGB image in [0, 1]."""
        mixed = torch.einsum("ij,njhw->nihw", self.color, self.spatial())
        return torch.sigmoid(self.offset + mixed)

    def set_pixels(self, pixels: torch.Tensor) -> None:
        """Set the parameters so that :meth:`pixels` returns ``pixels`` (clipped to (0, 1))."""
        pre = torch.logit(pixels.clamp(_EPS, 1 - _EPS)) - self.offset
        spatial = torch.einsum("ij,njhw->nihw", torch.linalg.inv(self.color), pre)
        with torch.no_grad():
            self.set_spatial(spatial)


class PixelImage(ImageParameterization):
    """One parameter per pixel and channel."""

    def __init__(
        self,
        shape: tuple[int, int, int, int],
        mean: Sequence[float],
        decorrelate: bool,
        device: torch.device,
    ) -> None:
        super().__init__(mean, decorrelate, device)
        self.param = torch.zeros(shape, device=device, requires_grad=True)

    def spatial(self) -> torch.Tensor:
        return self.param

    def set_spatial(self, image: torch.Tensor) -> None:
        self.param.copy_(image)


class FourierImage(ImageParameterization):
    """The real and imaginary parts of a 2-D real FFT, scaled by ``1 / f ** decay``."""

    def __init__(
        self,
        shape: tuple[int, int, int, int],
        mean: Sequence[float],
        decorrelate: bool,
        device: torch.device,
        decay: float = 1.0,
    ) -> None:
        super().__init__(mean, decorrelate, device)
        n, channels, height, width = shape
        self.size = (height, width)
        fy = torch.fft.fftfreq(height, device=device)[:, None]
        fx = torch.fft.rfftfreq(width, device=device)[None, :]
        frequencies = torch.sqrt(fx * fx + fy * fy)
        self.scale = 1.0 / frequencies.clamp_min(1.0 / max(height, width)) ** decay
        self.param = torch.zeros(
            (n, channels, height, width // 2 + 1, 2), device=device, requires_grad=True
        )

    def spatial(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.param) * self.scale
        return torch.fft.irfft2(spectrum, s=self.size, norm="ortho") / _FOURIER_MAGIC

    def set_spatial(self, image: torch.Tensor) -> None:
        spectrum = torch.fft.rfft2(image * _FOURIER_MAGIC, norm="ortho") / self.scale
        self.param.copy_(torch.view_as_real(spectrum))


def make_image(
    kind: str,
    shape: tuple[int, int, int, int],
    mean: Sequence[float],
    decorrelate: bool,
    device: torch.device,
) -> ImageParameterization:
    """A ``"pixel"`` or ``"fourier"`` parameterization of ``shape`` = (N, 3, H, W), all zeros."""
    if kind == "pixel":
        return PixelImage(shape, mean, decorrelate, device)
    if kind == "fourier":
        return FourierImage(shape, mean, decorrelate, device)
    raise MethodError(f"parameterization={kind!r} is not allowed; use 'pixel' or 'fourier'")


def noise_std(kind: str) -> float:
    """The standard deviation of a ``start="noise"`` parameter draw (Lucid's 0.01 for spectra)."""
    return 0.01 if kind == "fourier" else 0.1
