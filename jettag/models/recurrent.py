"""Recurrent taggers: an LSTM, GRU or Elman RNN reads a jet's constituents and an MLP classifies the jet.

No output depends on the padding. Packed input, and bidirectional layers, run on the ``PackedSequence``
(padded input packed first, ``enforce_sorted=False``): the per-constituent embedding, the dropout between
stacked layers and the residual connections act on the packed ``.data``, and only the read-out unpacks,
with an explicit mask. Unidirectional layers given padded input run over the padding, zeroed first
(:meth:`RecurrentTagger.recur_padded`): a state at a real position depends on that position and earlier
ones only, and the read-out masks the rest. A padded batch and the same batch packed therefore give the
same logits, whatever the padding holds.

Stacked layers are separate one-layer modules (rather than ``num_layers`` of one ``nn.LSTM``) so that a
residual connection can skip each of them. The Elman RNN can start as an IRNN (Le, Jaitly, Hinton 2015,
arXiv:1504.00941): recurrent weights the identity and biases zero, which with ``nonlinearity="relu"`` keeps
gradients from vanishing over long sequences.

Mixed precision: a recurrent layer never runs in float16 (:func:`recurrent_dtype`). Under autocast on CUDA
torch runs cuDNN's RNNs in float16 whatever autocast's dtype, and Lightning's ``bf16-mixed`` has no loss
scaling: the gradients of the recurrent states (median 2.5e-7 at the start of training on the main job's
jets, every one below float16's normal range) would be held as subnormals or flushed to zero. There the
layers run in float32 outside autocast (still cuDNN's fused kernels, with TF32 where torch allows it),
the embedding, the read-out's attention score and the head in bfloat16. On the CPU autocast runs them in
bfloat16, whose range is float32's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

__all__ = [
    "ACTIVATIONS",
    "CELLS",
    "NONLINEARITIES",
    "READOUTS",
    "RecurrentTagger",
    "mlp",
    "recurrent_dtype",
    "reverse_padded",
]

#: recurrent cells; "rnn" is the Elman network
CELLS = ("lstm", "gru", "rnn")
#: how the per-constituent hidden states become one vector per jet
READOUTS = ("last", "mean", "attention")
#: nonlinearities of the Elman RNN
NONLINEARITIES = ("tanh", "relu")
#: activations of the embedding and of the hidden layers of the head
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def _recurrent_layer(
    cell: str, input_size: int, hidden_size: int, bidirectional: bool, nonlinearity: str
) -> nn.RNNBase:
    """One batch-first recurrent layer of ``cell``; ``nonlinearity`` applies to the Elman cell only."""
    if cell == "lstm":
        return nn.LSTM(input_size, hidden_size, bidirectional=bidirectional, batch_first=True)
    if cell == "gru":
        return nn.GRU(input_size, hidden_size, bidirectional=bidirectional, batch_first=True)
    return nn.RNN(
        input_size, hidden_size, bidirectional=bidirectional, batch_first=True, nonlinearity=nonlinearity
    )


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; known: {', '.join(allowed)}")
    return value


def _at_least(value: int, minimum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def _dropout(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), got {value!r}")
    return float(value)


def mlp(
    in_features: int,
    hidden: Sequence[int],
    out_features: int,
    activation: str = "relu",
    dropout: float = 0.0,
) -> nn.Sequential:
    """Dense layers ``in -> hidden... -> out``, each hidden one followed by the activation and dropout;
    the last layer is linear, so the output is logits."""
    act = ACTIVATIONS[_choice(activation, tuple(ACTIVATIONS), "activation")]
    layers: list[nn.Module] = []
    size = in_features
    for width in hidden:
        layers += [nn.Linear(size, _at_least(width, 1, "a hidden layer size")), act(), nn.Dropout(dropout)]
        size = width
    layers.append(nn.Linear(size, out_features))
    return nn.Sequential(*layers)


def recurrent_dtype(device_type: str) -> torch.dtype | None:
    """The dtype the recurrent layers must be run in on ``device_type`` outside autocast, or None to run
    them as autocast does (also when autocast is off).

    float32 wherever autocast would run them in float16: on CUDA under any autocast (torch's cuDNN RNN
    wrapper casts to float16 whatever autocast's dtype), elsewhere under autocast to float16. float16
    without loss scaling flushes their gradients (see the module docstring); float32 costs little for
    layers of this size, whose time goes into the step-by-step recursion rather than the arithmetic.
    """
    if not torch.is_autocast_enabled(device_type):
        return None
    if device_type == "cuda" or torch.get_autocast_dtype(device_type) == torch.float16:
        return torch.float32
    return None


@overload
def _run_layer(layer: nn.Module, sequence: Tensor) -> Tensor: ...
@overload
def _run_layer(layer: nn.Module, sequence: PackedSequence) -> PackedSequence: ...
def _run_layer(layer: nn.Module, sequence: Tensor | PackedSequence) -> Tensor | PackedSequence:
    """One recurrent layer's output for padded or packed ``sequence``, in the dtype of
    :func:`recurrent_dtype` (the one place where a recurrent layer's precision is decided)."""
    data = sequence.data if isinstance(sequence, PackedSequence) else sequence
    dtype = recurrent_dtype(data.device.type)
    output: Tensor | PackedSequence
    if dtype is None:
        output = layer(sequence)[0]
    else:
        cast = data.to(dtype)
        sequence = _with_data(sequence, cast) if isinstance(sequence, PackedSequence) else cast
        with torch.autocast(data.device.type, enabled=False):
            output = layer(sequence)[0]
    return output


def _with_data(sequence: PackedSequence, data: Tensor) -> PackedSequence:
    """``sequence`` with new per-element values; the layout (batch sizes, sort order) is kept."""
    return PackedSequence(data, sequence.batch_sizes, sequence.sorted_indices, sequence.unsorted_indices)


def _packed_lengths(sequence: PackedSequence) -> Tensor:
    """Lengths (CPU int64, in batch order) of the sequences in a ``PackedSequence``, without unpacking."""
    batch_sizes = sequence.batch_sizes
    n_jets = int(batch_sizes[0])
    lengths = (batch_sizes[None, :] > torch.arange(n_jets)[:, None]).sum(dim=1)
    if sequence.unsorted_indices is not None:
        lengths = lengths[sequence.unsorted_indices.cpu()]
    return lengths


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Each jet's first ``lengths`` positions of ``x`` ``[batch, time, ...]`` in reverse order, the padding
    where it was; ``lengths`` on ``x``'s device. By ``gather``, which traces into ONNX."""
    time = torch.arange(x.shape[1], device=x.device)[None, :]
    index = torch.where(time < lengths[:, None], lengths[:, None] - 1 - time, time)
    index = index.reshape(*index.shape, *([1] * (x.ndim - 2))).expand(x.shape)
    return torch.gather(x, 1, index)


class RecurrentTagger(nn.Module):
    """Many-to-one tagger: constituents ``[batch, time, n_features]`` -> logits ``[batch, n_classes]``.

    ``n_classes=1`` gives one logit for a binary tagger (use ``BCEWithLogitsLoss``), more give softmax logits
    (``CrossEntropyLoss``). ``embed_dim`` > 0 maps each constituent through ``Linear + activation`` first.
    ``residual`` adds each stacked layer's input to its output (layers 2 and up, whose input and output
    sizes agree). ``dropout`` acts between stacked layers, between the head's layers and before the head.
    ``readout`` is ``"last"`` (the last real hidden state; bidirectional: the forward state at the last real
    position and the backward state at position 0), ``"mean"`` (mean over real positions) or
    ``"attention"`` (softmax over real positions of a learned score, then the weighted sum).
    ``nonlinearity`` and ``identity_init`` (the IRNN start, see the module docstring) apply to ``"rnn"`` only.
    ``reverse`` reads each jet's constituents in the opposite order of the sequence (softest first in the
    ``pt`` ordering), so that with ``readout="last"`` the state read out is the one after the hardest
    constituents rather than after the softest, whose memory of the hard ones has faded; attention weights
    are given back in the sequence's order.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int = 1,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        embed_dim: int = 32,
        bidirectional: bool = False,
        residual: bool = False,
        dropout: float = 0.0,
        readout: str = "last",
        head_sizes: Sequence[int] = (64,),
        activation: str = "relu",
        nonlinearity: str = "tanh",
        identity_init: bool = False,
        reverse: bool = False,
    ) -> None:
        super().__init__()
        self.cell = _choice(cell, CELLS, "recurrent cell")
        self.readout = _choice(readout, READOUTS, "read-out")
        _choice(nonlinearity, NONLINEARITIES, "nonlinearity")
        _choice(activation, tuple(ACTIVATIONS), "activation")
        if cell != "rnn" and nonlinearity != "tanh":
            raise ValueError(f"nonlinearity applies to the Elman cell 'rnn' only, not to {cell!r}")
        if identity_init and cell != "rnn":
            raise ValueError(
                f"identity_init (IRNN) applies to the Elman cell 'rnn' only; {cell!r} has gated recurrent "
                "weights for which an identity start has no meaning"
            )
        _at_least(n_features, 1, "n_features")
        _at_least(n_classes, 1, "n_classes")
        _at_least(hidden_size, 1, "hidden_size")
        _at_least(num_layers, 1, "num_layers")
        _at_least(embed_dim, 0, "embed_dim")
        dropout = _dropout(dropout)
        self.bidirectional = bool(bidirectional)
        self.residual = bool(residual)
        self.reverse = bool(reverse)
        self.hidden_size = hidden_size

        self.embedding = (
            nn.Sequential(nn.Linear(n_features, embed_dim), ACTIVATIONS[activation]()) if embed_dim else None
        )
        state_size = hidden_size * (2 if bidirectional else 1)
        self.layers = nn.ModuleList(
            _recurrent_layer(
                cell,
                (embed_dim or n_features) if i == 0 else state_size,
                hidden_size,
                bidirectional,
                nonlinearity,
            )
            for i in range(num_layers)
        )
        self.between = nn.Dropout(dropout)
        self.score = (
            nn.Sequential(nn.Linear(state_size, hidden_size), nn.Tanh(), nn.Linear(hidden_size, 1))
            if readout == "attention"
            else None
        )
        self.head = nn.Sequential(
            nn.Dropout(dropout), mlp(state_size, head_sizes, n_classes, activation, dropout)
        )
        if identity_init:
            self._identity_init()

    def _identity_init(self) -> None:
        with torch.no_grad():
            for layer in self.layers:
                for name, param in layer.named_parameters():
                    if name.startswith("weight_hh"):
                        param.copy_(torch.eye(*param.shape))
                    elif name.startswith("bias"):
                        param.zero_()

    def _lengths(self, x: Tensor, lengths: Tensor | None, mask: Tensor | None) -> Tensor:
        """The lengths of padded input ``x``, after checking ``lengths`` and ``mask`` against it."""
        if x.ndim != 3:
            raise ValueError(f"expected padded input [batch, time, features], got shape {tuple(x.shape)}")
        if lengths is not None:
            source = lengths
        elif mask is not None:
            source = mask.sum(dim=1)
        else:
            raise ValueError("padded input needs its lengths (or a mask) to tell constituents from padding")
        real_lengths = torch.as_tensor(source).to(device="cpu", dtype=torch.int64)
        if real_lengths.shape != (x.shape[0],):
            raise ValueError(
                f"expected lengths [batch] = [{x.shape[0]}], got shape {tuple(real_lengths.shape)}"
            )
        if x.shape[0] and (int(real_lengths.min()) < 1 or int(real_lengths.max()) > x.shape[1]):
            raise ValueError(
                f"lengths must lie in [1, {x.shape[1]}] (the padded length); got lengths from "
                f"{int(real_lengths.min())} to {int(real_lengths.max())}. Jets without constituents "
                "cannot be packed: drop them or give them a sentinel constituent"
            )
        self._check(real_lengths, lengths, mask)
        return real_lengths

    @staticmethod
    def _check(real_lengths: Tensor, lengths: Tensor | None, mask: Tensor | None) -> None:
        if lengths is not None and not torch.equal(
            torch.as_tensor(lengths).to(device="cpu", dtype=torch.int64), real_lengths
        ):
            raise ValueError("lengths disagree with the packed input")
        if mask is not None:
            expected = torch.arange(mask.shape[-1]) < real_lengths[:, None]
            if mask.shape != expected.shape or not torch.equal(
                mask.to(device="cpu", dtype=torch.bool), expected
            ):
                raise ValueError(
                    "mask must be True on the first `length` positions of each jet and False after them, "
                    "as jettag.features.sequences.pad writes it; it disagrees with the lengths"
                )

    def _pack(
        self, x: Tensor | PackedSequence, lengths: Tensor | None, mask: Tensor | None
    ) -> tuple[PackedSequence, int | None]:
        """The input as a ``PackedSequence`` and the padded length to unpack to (None for packed input),
        after checking that ``lengths`` and ``mask``, where given, agree with it and with each other."""
        if isinstance(x, PackedSequence):
            self._check(_packed_lengths(x), lengths, mask)
            return x, None
        real_lengths = self._lengths(x, lengths, mask)
        return pack_padded_sequence(x, real_lengths, batch_first=True, enforce_sorted=False), x.shape[1]

    def recur_padded(self, x: Tensor) -> Tensor:
        """Embedding and the stacked recurrent layers run over the padded tensor ``[batch, time, features]``,
        padding included, without packing: the padded recurrence that the ONNX export traces.

        Only for unidirectional layers: the state at a real position depends on that position and earlier
        ones only, so the real positions must come out exactly as with the packed :meth:`forward`, and the
        read-outs mask the rest. On the CPU this is 2-3x faster than packing
        (benchmarks/training_throughput.py); on CUDA padded input is what lets torch pick cuDNN's
        persistent kernels for small hidden sizes (LSTM and GRU up to 128), which packed input never gets
        (benchmarks/gpu_throughput.py measures both).
        """
        sequence: Tensor = x if self.embedding is None else self.embedding(x)
        for i, layer in enumerate(self.layers):
            inputs = sequence
            if i > 0:
                sequence = self.between(sequence)
            sequence = _run_layer(layer, sequence)
            if self.residual and i > 0:
                sequence = sequence + inputs
        return sequence

    def _recur(self, packed: PackedSequence) -> PackedSequence:
        """Embedding and the stacked recurrent layers, all on the packed data."""
        sequence = packed
        if self.embedding is not None:
            sequence = _with_data(sequence, self.embedding(sequence.data))
        for i, layer in enumerate(self.layers):
            inputs = sequence
            if i > 0:
                sequence = _with_data(sequence, self.between(sequence.data))
            sequence = _run_layer(layer, sequence)
            if self.residual and i > 0:
                sequence = _with_data(sequence, sequence.data + inputs.data)
        return sequence

    def _encode(
        self, x: Tensor | PackedSequence, lengths: Tensor | None, mask: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """One vector per jet ``[batch, state]`` and the attention weights ``[batch, time]`` (else None)."""
        if self.reverse:
            x, lengths = self._reversed(x, lengths, mask)
            mask = None
            pooled, weights = self._encode_ordered(x, lengths, None)
            if weights is not None:
                weights = reverse_padded(weights, lengths.to(weights.device))
            return pooled, weights
        return self._encode_ordered(x, lengths, mask)

    def _reversed(
        self, x: Tensor | PackedSequence, lengths: Tensor | None, mask: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Padded ``x`` with each jet read backwards, and the lengths (CPU), after the usual checks."""
        if isinstance(x, PackedSequence):
            padded, real_lengths = pad_packed_sequence(x, batch_first=True)
            self._check(real_lengths, lengths, mask)
        else:
            padded, real_lengths = x, self._lengths(x, lengths, mask)
        return reverse_padded(padded, real_lengths.to(padded.device)), real_lengths

    def _encode_ordered(
        self, x: Tensor | PackedSequence, lengths: Tensor | None, mask: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        if isinstance(x, PackedSequence) or self.bidirectional:
            packed, total_length = self._pack(x, lengths, mask)
            states, real_lengths = pad_packed_sequence(
                self._recur(packed), batch_first=True, total_length=total_length
            )
        else:
            real_lengths = self._lengths(x, lengths, mask)
            inside = torch.arange(x.shape[1], device=x.device) < real_lengths.to(x.device)[:, None]
            # zero the padding: garbage there would reach the real positions' gradients through the recursion
            states = self.recur_padded(
                torch.where(inside[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
            )
        return self.read_out(states, real_lengths.to(states.device))

    def read_out(self, states: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | None]:
        """The read-out of the recurrent states ``[batch, time, state]`` of jets of ``lengths`` (on the
        states' device): one vector per jet ``[batch, state]`` and the attention weights ``[batch, time]``
        (else None). Whatever the padding holds never reaches the output. The packed :meth:`forward` and
        the ONNX export (:mod:`jettag.predict.export`) both read out here."""
        real_lengths = lengths
        real = torch.arange(states.shape[1], device=states.device) < real_lengths[:, None]
        # zeros by where, not by multiplication: 0 * NaN would be NaN
        states = torch.where(
            real[..., None], states, torch.zeros((), dtype=states.dtype, device=states.device)
        )
        if self.readout == "last":
            # gather rather than advanced indexing, which ONNX exports only with a warning
            index = (real_lengths - 1)[:, None, None].expand(-1, 1, states.shape[2])
            last = torch.gather(states, 1, index)[:, 0]
            if not self.bidirectional:
                return last, None
            h = self.hidden_size
            return torch.cat([last[:, :h], states[:, 0, h:]], dim=1), None
        if self.readout == "mean":
            summed = (states * real[..., None]).sum(dim=1)
            return summed / real_lengths[:, None].to(states.dtype), None
        assert self.score is not None
        scores = self.score(states).squeeze(-1).masked_fill(~real, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return (weights[..., None] * states).sum(dim=1), weights

    def forward(
        self, x: Tensor | PackedSequence, lengths: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """Logits ``[batch, n_classes]`` for padded ``x`` ``[batch, time, features]`` with ``lengths``
        ``[batch]`` (and/or the ``mask`` of :func:`jettag.features.sequences.pad`), or for a
        ``PackedSequence``.

        Lengths may live on any device (they are moved to the CPU for packing); every length must be >= 1.
        """
        pooled, _ = self._encode(x, lengths, mask)
        logits: Tensor = self.head(pooled)
        return logits

    def attention_weights(
        self, x: Tensor | PackedSequence, lengths: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """Read-out weights ``[batch, time]`` of the attention read-out: they sum to 1 over each jet's real
        constituents and are exactly 0 on padding. ``time`` is the padded length of ``x`` (packed input: its
        longest sequence). Uses the current mode: call ``eval()`` first to leave dropout out."""
        if self.readout != "attention":
            raise ValueError(
                f"attention_weights needs readout='attention'; this tagger reads out {self.readout!r}"
            )
        _, weights = self._encode(x, lengths, mask)
        assert weights is not None
        return weights

    def final_states(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The recurrent memory after each jet's last real constituent: the top layer's state there
        ``[batch, hidden]`` (forward direction only when bidirectional), whatever the read-out. With
        ``reverse`` the last constituent read is the sequence's first (the hardest in the ``pt`` order)."""
        lengths = torch.as_tensor(lengths).to(device="cpu", dtype=torch.int64)
        if self.reverse:
            x = reverse_padded(x, lengths.to(x.device))
        if self.bidirectional:
            packed, total_length = self._pack(x, lengths, None)
            states, _ = pad_packed_sequence(self._recur(packed), batch_first=True, total_length=total_length)
            states = states[..., : self.hidden_size]
        else:
            inside = torch.arange(x.shape[1], device=x.device) < lengths.to(x.device)[:, None]
            states = self.recur_padded(
                torch.where(inside[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
            )
        jets = torch.arange(states.shape[0], device=states.device)
        return states[jets, lengths.to(states.device) - 1]

    def input_gradient_norms(self, x: Tensor, lengths: Tensor) -> Tensor:
        """How far back the recurrent memory reaches: a tensor ``[time]``.

        For padded ``x`` ``[batch, time, features]``: the gradient of the sum of :meth:`final_states` (the
        memory after the last real constituent, independent of the read-out, whose pooling would add a
        direct path to every position) with respect to the input, its Euclidean norm over features at each
        position of each jet, then the mean over the jets that are at least that long; positions no jet
        reaches are 0. With constituents ordered by pT the last real constituent is the softest, so the
        fall-off from the end of each jet back towards position 0 shows how far back the memory carries
        the hard constituents (the vanishing-gradient diagnostic that separates a vanilla RNN from gated
        cells).

        Runs in eval mode (no dropout) and without cuDNN, whose RNN backward refuses eval mode; the mode is
        restored afterwards and no parameter gradient is touched.
        """
        lengths = torch.as_tensor(lengths).to(device="cpu", dtype=torch.int64)
        inputs = x.detach().clone().requires_grad_(True)
        was_training = self.training
        self.eval()
        try:
            with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
                (grad,) = torch.autograd.grad(self.final_states(inputs, lengths).sum(), inputs)
        finally:
            self.train(was_training)
        real = torch.arange(x.shape[1], device=x.device) < lengths.to(x.device)[:, None]
        norms = torch.where(real, grad.norm(dim=-1), torch.zeros((), dtype=grad.dtype, device=grad.device))
        return norms.sum(dim=0) / real.sum(dim=0).clamp(min=1)
