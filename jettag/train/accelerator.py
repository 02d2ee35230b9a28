"""How a training uses its device: the precision and cuDNN's settings, decided in one place.

:func:`accelerator_plan` makes the decision for a device and :meth:`AcceleratorPlan.backend` applies it
around a fit (:func:`jettag.train.train_model`); ``benchmarks/gpu_throughput.py`` measures what it buys.

On a CUDA GPU:

- precision: ``train.precision`` null (the default) becomes ``"bf16-mixed"`` where the GPU supports
  bfloat16 (Ampere and later), else ``"32-true"``; a precision that is set is kept. Under autocast the
  recurrent layers run in float32 and the rest in bfloat16 (:func:`jettag.models.recurrent.recurrent_dtype`:
  torch's autocast would put cuDNN's RNNs in float16, which ``bf16-mixed`` does not loss-scale).
- cuDNN on (``torch.backends.cudnn.enabled``): its fused RNN kernels take the padded batches of the
  unidirectional taggers (:meth:`jettag.models.RecurrentTagger.recur_padded`, which lets torch pick the
  persistent kernels for small hidden sizes) and the packed batches of the bidirectional ones.
- ``torch.backends.cudnn.benchmark`` only for data of one shape (jet images: the CNN), where cuDNN times
  the convolution algorithms once and keeps the fastest. Sequence batches are padded to their own longest
  jet, so their shape changes from batch to batch and each new shape would be timed again; cuDNN's RNN
  kernels do not consult the flag (torch chooses their algorithm by rule).
- not deterministic unless asked: torch's deterministic mode refuses some of the kernels a GPU training uses.

On the CPU: ``"32-true"`` unless set (``"bf16-mixed"`` runs there too: autocast to bfloat16, the
recurrent layers included), deterministic, and cuDNN's flags are left alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from jettag.train.arrays import KINDS

__all__ = ["AcceleratorPlan", "accelerator_plan", "default_precision"]

#: accelerators that never run deterministically (torch's deterministic mode refuses kernels there)
_NONDETERMINISTIC = ("gpu", "cuda", "mps", "tpu")


@dataclasses.dataclass(frozen=True)
class AcceleratorPlan:
    """What a training on ``device`` (``"cuda"`` or ``"cpu"``) runs with: Lightning's ``precision`` and
    ``deterministic``, and cuDNN's ``enabled`` and ``benchmark`` flags (``cudnn``, ``cudnn_benchmark``;
    False on the CPU, where cuDNN is not used)."""

    device: str
    precision: str | int
    deterministic: bool
    cudnn: bool
    cudnn_benchmark: bool

    @contextmanager
    def backend(self) -> Iterator[None]:
        """cuDNN's flags as planned inside the block (on CUDA; nothing changes on the CPU), as they were
        after it: they are process-wide, and a fit should not leave them to the next."""
        if self.device != "cuda":
            yield
            return
        cudnn = torch.backends.cudnn
        saved = cudnn.enabled, cudnn.benchmark
        cudnn.enabled, cudnn.benchmark = self.cudnn, self.cudnn_benchmark
        try:
            yield
        finally:
            cudnn.enabled, cudnn.benchmark = saved

    def to_dict(self) -> dict[str, str | int | bool]:
        return dataclasses.asdict(self)


def accelerator_plan(
    accelerator: str = "auto",
    precision: str | int | None = None,
    data_kind: str = "sequence",
    *,
    deterministic: bool | None = None,
    cuda: bool | None = None,
    bf16: bool | None = None,
) -> AcceleratorPlan:
    """The plan for a training with ``accelerator`` (``train.accelerator``), ``precision``
    (``train.precision``; None: the device's default) on ``data_kind`` batches (``"sequence"`` or
    ``"image"``); ``deterministic`` None: deterministic on the CPU only (see the module docstring).

    ``cuda`` (whether the training runs on a CUDA GPU) and ``bf16`` (whether that GPU supports bfloat16)
    are this machine's where not given; given, they ask for the plan of another machine.
    """
    if data_kind not in KINDS:
        raise ValueError(f"unknown data kind {data_kind!r}; known: {', '.join(KINDS)}")
    if cuda is None:
        cuda = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    if bf16 is None:
        bf16 = cuda and torch.cuda.is_bf16_supported()
    if precision is None:
        precision = "bf16-mixed" if cuda and bf16 else "32-true"
    if deterministic is None:
        deterministic = not cuda and accelerator not in _NONDETERMINISTIC
    return AcceleratorPlan(
        device="cuda" if cuda else "cpu",
        precision=precision,
        deterministic=deterministic,
        cudnn=cuda,
        # one shape only; and torch ignores cudnn.deterministic where benchmark is on
        cudnn_benchmark=cuda and data_kind == "image" and not deterministic,
    )


def default_precision(accelerator: str = "auto") -> str:
    """``"bf16-mixed"`` on a CUDA GPU that supports bfloat16, else ``"32-true"``."""
    return str(accelerator_plan(accelerator).precision)
