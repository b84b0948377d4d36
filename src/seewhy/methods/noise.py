"""Noisy copies of a batch, shared by SmoothGrad and the ``smooth:`` wrapper.

Each image gets ``n`` copies ``x + eps`` with ``eps ~ N(0, sigma^2)`` and
``sigma = noise * (max(x) - min(x))`` over that image (Smilkov et al. express the noise level
as a share of the input's range). Each image's ``n`` noise tensors are drawn at once from a
generator of its own, seeded from ``seed`` and the image's values
(:func:`~seewhy.methods.ops.image_seeds`), so the same seed and image give the same noise
however the samples are chunked into forward passes, whatever the batch size and wherever
the image sits among the others.
"""

from __future__ import annotations

import torch

from seewhy.errors import MethodError
from seewhy.methods.ops import check_batch_size, image_seeds

#: The paper's defaults (Smilkov et al. 2017): n = 50 copies, noise 0.10-0.20 of the range.
DEFAULT_N = 50
DEFAULT_NOISE = 0.15


def check_smoothing(n: int, noise: float, batch_size: int | None) -> None:
    """A MethodError naming the bad value, for the options every noisy method shares."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise MethodError(f"n must be a positive int (noisy samples per image), got {n!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or noise < 0:
        raise MethodError(
            f"noise must be a number >= 0 (a share of the input's range), got {noise!r}"
        )
    check_batch_size(batch_size)


class NoiseSource:
    """Hands out noisy samples ``i = b * n + k`` (image b, copy k), chunk by chunk.

    Args:
        inputs: (B, C, H, W) clean batch.
        n: copies per image.
        noise: sigma as a share of each image's range (max - min).
        seed: seeds the generators; None draws the seed from torch's global generator, so
            ``torch.manual_seed`` makes runs repeatable too.
        noise_tensors: (B, n, C, H, W) noise to add instead of drawing it (already scaled;
            ``noise`` and ``seed`` are then ignored), e.g. to compare with another library.
    """

    def __init__(
        self,
        inputs: torch.Tensor,
        n: int,
        noise: float,
        seed: int | None = None,
        noise_tensors: torch.Tensor | None = None,
    ) -> None:
        self.inputs = inputs.detach()
        self.n = n
        batch = inputs.shape[0]
        self.noise_tensors: torch.Tensor | None = None
        self._drawn: dict[int, torch.Tensor] = {}
        if noise_tensors is not None:
            expected = (batch, n, *inputs.shape[1:])
            if tuple(noise_tensors.shape) != expected:
                raise MethodError(
                    f"noise_tensors must have shape (B, n, C, H, W) = {expected}, got "
                    f"{tuple(noise_tensors.shape)}"
                )
            self.noise_tensors = noise_tensors.to(self.inputs)
            return
        flat = self.inputs.reshape(batch, -1)
        self.sigma = float(noise) * (flat.amax(dim=1) - flat.amin(dim=1))
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.seeds = image_seeds(self.inputs, int(seed))

    @property
    def total(self) -> int:
        return self.inputs.shape[0] * self.n

    def _noise(self, image: int) -> torch.Tensor:
        """The (n, C, H, W) noise of one image, drawn on first use."""
        if self.noise_tensors is not None:
            return self.noise_tensors[image]
        if image not in self._drawn:
            for done in [b for b in self._drawn if b < image]:
                del self._drawn[done]  # chunks come in order: earlier images are finished
            device = self.inputs.device
            generator = torch.Generator(device=device).manual_seed(self.seeds[image])
            shape = (self.n, *self.inputs.shape[1:])
            noise = torch.randn(shape, generator=generator, device=device)
            self._drawn[image] = noise.to(self.inputs.dtype).mul_(self.sigma[image])
        return self._drawn[image]

    def take(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples ``start..stop-1``: their image rows (k,) and the noisy copies (k, C, H, W)."""
        rows = torch.arange(start, stop, device=self.inputs.device) // self.n
        pieces = []
        for image in range(start // self.n, (stop - 1) // self.n + 1):
            first = max(start, image * self.n) - image * self.n
            last = min(stop, (image + 1) * self.n) - image * self.n
            pieces.append(self.inputs[image] + self._noise(image)[first:last])
        return rows, torch.cat(pieces)
