"""Recurrent taggers: padded and packed input agree, padding is never read, read-outs and diagnostics."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from jettag.models import CELLS, READOUTS, RecurrentTagger
from jettag.models.recurrent import recurrent_dtype

N_FEATURES = 4
#: unsorted, mixed, with a jet of one constituent and one that fills the padded length
LENGTHS = torch.tensor([3, 1, 7, 5, 2, 7])
PADDED_LENGTH = 9


def padded_batch(lengths: torch.Tensor, padded_length: int = PADDED_LENGTH, seed: int = 0) -> torch.Tensor:
    """Random constituents ``[batch, padded_length, N_FEATURES]`` with zero padding after each length."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), padded_length, N_FEATURES, generator=generator)
    return x * mask_of(lengths, padded_length)[..., None]


def mask_of(lengths: torch.Tensor, padded_length: int = PADDED_LENGTH) -> torch.Tensor:
    return torch.arange(padded_length) < lengths[:, None]


def tagger(**kwargs: object) -> RecurrentTagger:
    torch.manual_seed(1)
    options = {"hidden_size": 8, "embed_dim": 6, "head_sizes": [5]} | kwargs
    return RecurrentTagger(N_FEATURES, **options).eval()


@pytest.mark.parametrize(
    ("cell", "readout", "bidirectional", "residual", "reverse"),
    [
        *itertools.product(CELLS, READOUTS, (False, True), (False, True), (False,)),
        *itertools.product(CELLS, READOUTS, (False,), (False,), (True,)),
    ],
)
def test_padded_packed_and_single_jets_agree(
    cell: str, readout: str, bidirectional: bool, residual: bool, reverse: bool
) -> None:
    model = tagger(
        cell=cell, readout=readout, bidirectional=bidirectional, residual=residual, num_layers=2,
        reverse=reverse,
    )  # fmt: skip
    x = padded_batch(LENGTHS)
    with torch.no_grad():
        padded = model(x, LENGTHS, mask_of(LENGTHS))
        from_mask = model(x, mask=mask_of(LENGTHS))
        packed = model(pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False))
        # each jet alone, cut to its length: no padding and no other jet in sight
        alone = torch.cat(
            [model(x[i : i + 1, :n], torch.tensor([n])) for i, n in enumerate(LENGTHS.tolist())]
        )
    assert padded.shape == (len(LENGTHS), 1)
    torch.testing.assert_close(packed, padded, atol=1e-5, rtol=0)
    torch.testing.assert_close(from_mask, padded, atol=1e-5, rtol=0)
    torch.testing.assert_close(alone, padded, atol=1e-5, rtol=0)
    # the jets differ, so the check above is not comparing constants
    assert padded.std() > 1e-4


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("garbage", [float("nan"), 1e6])
def test_padding_values_never_reach_the_output(readout: str, garbage: float) -> None:
    model = tagger(cell="lstm", readout=readout, bidirectional=True, num_layers=2, residual=True)
    x = padded_batch(LENGTHS)
    dirty = x.masked_fill(~mask_of(LENGTHS)[..., None], garbage)
    with torch.no_grad():
        clean_out = model(x, LENGTHS)
        dirty_out = model(dirty, LENGTHS)
    assert torch.isfinite(dirty_out).all()
    torch.testing.assert_close(dirty_out, clean_out, atol=1e-6, rtol=0)
    if readout == "attention":
        torch.testing.assert_close(
            model.attention_weights(dirty, LENGTHS), model.attention_weights(x, LENGTHS)
        )


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("n_classes", [1, 3])
def test_output_shape(cell: str, n_classes: int) -> None:
    model = tagger(cell=cell, n_classes=n_classes, bidirectional=True)
    assert model(padded_batch(LENGTHS), LENGTHS).shape == (len(LENGTHS), n_classes)


def test_lengths_may_live_on_the_input_device_as_any_integer_tensor() -> None:
    model = tagger()
    x = padded_batch(LENGTHS)
    torch.testing.assert_close(model(x, LENGTHS.to(torch.int32)), model(x, LENGTHS))


def test_bad_lengths_and_masks_are_refused() -> None:
    model = tagger()
    x = padded_batch(LENGTHS)
    with pytest.raises(ValueError, match="lengths must lie in"):
        model(x, torch.tensor([3, 0, 7, 5, 2, 7]))
    with pytest.raises(ValueError, match="padded length"):
        model(x, torch.tensor([3, 1, 7, 5, 2, PADDED_LENGTH + 1]))
    with pytest.raises(ValueError, match="mask"):
        model(x, LENGTHS, mask_of(LENGTHS + 1))
    with pytest.raises(ValueError, match="needs its lengths"):
        model(x)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_identity_init_starts_every_recurrent_matrix_at_the_identity(bidirectional: bool) -> None:
    model = tagger(
        cell="rnn", nonlinearity="relu", identity_init=True, num_layers=2, bidirectional=bidirectional
    )
    recurrent = {name: p for name, p in model.layers.named_parameters() if "weight_hh" in name}
    assert len(recurrent) == 2 * (2 if bidirectional else 1)
    for weight in recurrent.values():
        torch.testing.assert_close(weight.detach(), torch.eye(8), atol=0, rtol=0)
    for name, param in model.layers.named_parameters():
        if name.startswith("bias"):
            assert torch.count_nonzero(param) == 0, name
        if name.startswith("weight_ih"):
            assert param.abs().sum() > 0, name
    plain = tagger(cell="rnn")
    assert not torch.equal(plain.layers[0].weight_hh_l0.detach(), torch.eye(8))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_identity_init_is_refused_for_gated_cells(cell: str) -> None:
    with pytest.raises(ValueError, match="identity_init"):
        RecurrentTagger(N_FEATURES, cell=cell, identity_init=True)


def test_attention_weights_are_a_distribution_over_real_constituents_only() -> None:
    model = tagger(cell="gru", readout="attention", bidirectional=True)
    with torch.no_grad():
        weights = model.attention_weights(padded_batch(LENGTHS), LENGTHS)
    real = mask_of(LENGTHS)
    assert weights.shape == (len(LENGTHS), PADDED_LENGTH)
    assert torch.all(weights[~real] == 0)
    assert torch.all(weights[real] > 0)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(len(LENGTHS)))
    assert weights[1, 0] == 1  # a jet of one constituent puts all its weight there
    with pytest.raises(ValueError, match="readout='attention'"):
        tagger(readout="mean").attention_weights(padded_batch(LENGTHS), LENGTHS)


@pytest.mark.parametrize("readout", READOUTS)
def test_a_reversed_tagger_reads_each_jet_backwards(readout: str) -> None:
    backwards, forwards = tagger(readout=readout, reverse=True), tagger(readout=readout)
    forwards.load_state_dict(backwards.state_dict())
    x = padded_batch(LENGTHS)
    flipped = torch.zeros_like(x)
    for i, n in enumerate(LENGTHS.tolist()):
        flipped[i, :n] = x[i, :n].flip(0)
    with torch.no_grad():
        torch.testing.assert_close(backwards(x, LENGTHS), forwards(flipped, LENGTHS), atol=1e-6, rtol=0)
        if readout == "last":
            # the state read out follows the first constituent (the hardest), not the last
            torch.testing.assert_close(
                backwards.final_states(x, LENGTHS), forwards.final_states(flipped, LENGTHS)
            )
            assert not torch.allclose(backwards(x, LENGTHS), forwards(x, LENGTHS))
        if readout == "attention":
            # weights come back in the sequence's order
            weights = backwards.attention_weights(x, LENGTHS)
            expected = forwards.attention_weights(flipped, LENGTHS)
            for i, n in enumerate(LENGTHS.tolist()):
                torch.testing.assert_close(weights[i, :n], expected[i, :n].flip(0))


def test_input_gradient_norms_cover_real_positions_only() -> None:
    model = tagger(cell="lstm", readout="last", num_layers=2, dropout=0.3).train()
    lengths = torch.tensor([4, 7, 2])
    x = padded_batch(lengths, padded_length=10)
    norms = model.input_gradient_norms(x.masked_fill(~mask_of(lengths, 10)[..., None], float("nan")), lengths)
    assert norms.shape == (10,)
    assert torch.all(norms[:7] > 0)
    assert torch.all(norms[7:] == 0)
    # the mode is restored, no parameter gradient is left behind, and eval mode makes it deterministic
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    torch.testing.assert_close(model.input_gradient_norms(x, lengths), norms)
    # position 5 is reached by one jet only: its value is that jet's gradient norm, not a third of it
    x_alone = x[1:2].clone().requires_grad_(True)
    model.eval()
    model.final_states(x_alone, lengths[1:2]).sum().backward()
    torch.testing.assert_close(norms[5], x_alone.grad[0, 5].norm())


def test_input_gradient_norms_follow_the_memory_not_the_readout() -> None:
    """The probe is the state after the last real constituent: a masked-mean read-out, which reaches every
    position directly, gives the same norms as the last-state read-out for the same recurrent weights."""
    torch.manual_seed(3)
    last = tagger(cell="gru", readout="last")
    mean = tagger(cell="gru", readout="mean")
    mean.load_state_dict(last.state_dict())
    lengths = torch.tensor([9, 5])
    x = padded_batch(lengths, padded_length=9)
    torch.testing.assert_close(last.input_gradient_norms(x, lengths), mean.input_gradient_norms(x, lengths))
    # the state is last[1] = f(x[1, :5]): positions 5.. of the second jet do not count
    assert last.final_states(x, lengths).shape == (2, last.hidden_size)


def test_lstm_learns_a_task_that_needs_the_whole_sequence() -> None:
    """Label: is the sum of the first feature over the real constituents positive? No one position tells."""
    torch.manual_seed(0)
    model = RecurrentTagger(2, cell="lstm", hidden_size=16, embed_dim=0, head_sizes=[16])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        lengths = torch.randint(1, 13, (n,))
        x = torch.randn(n, 12, 2) * mask_of(lengths, 12)[..., None]
        return x, lengths, (x[..., 0].sum(dim=1) > 0).float()

    for _ in range(300):
        x, lengths, labels = sample(64)
        optimiser.zero_grad()
        loss_fn(model(x, lengths).squeeze(1), labels).backward()
        optimiser.step()
    x, lengths, labels = sample(2000)
    with torch.no_grad():
        accuracy = ((model.eval()(x, lengths).squeeze(1) > 0).float() == labels).float().mean()
    assert accuracy > 0.9


def recurrent_output_dtypes(model: RecurrentTagger, *inputs: object) -> set[torch.dtype]:
    """The dtypes the recurrent layers put out in one forward pass of ``model`` on ``inputs``."""
    seen: set[torch.dtype] = set()

    def hook(module: torch.nn.Module, args: object, output: tuple) -> None:
        seen.add(output[0].data.dtype if hasattr(output[0], "batch_sizes") else output[0].dtype)

    hooks = [layer.register_forward_hook(hook) for layer in model.layers]
    try:
        logits = model(*inputs)
    finally:
        for handle in hooks:
            handle.remove()
    assert torch.isfinite(logits).all()
    return seen


@pytest.mark.parametrize(
    ("autocast", "expected"), [(torch.bfloat16, torch.bfloat16), (torch.float16, torch.float32)]
)
@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_layers_never_run_in_float16_under_autocast(
    cell: str, autocast: torch.dtype, expected: torch.dtype
) -> None:
    """Autocast to bfloat16 on the CPU runs the recurrent layers in bfloat16; wherever autocast would run
    them in float16 (on CUDA under every autocast, here under float16's) they run in float32, outside
    autocast, padded and packed alike, and their gradients reach the weights."""
    model = tagger(cell=cell, num_layers=2, residual=True).train()
    x = padded_batch(LENGTHS)
    packed = pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False)
    assert recurrent_dtype("cpu") is None  # outside autocast: as the weights are
    with torch.autocast("cpu", dtype=autocast):
        assert recurrent_dtype("cpu") == (None if expected == autocast else torch.float32)
        assert recurrent_output_dtypes(model.eval(), x, LENGTHS) == {expected}
        assert recurrent_output_dtypes(model, packed) == {expected}
        with torch.no_grad():
            padded_logits, packed_logits = model(x, LENGTHS), model(packed)
        loss = model.train()(x, LENGTHS).float().square().mean()
    torch.testing.assert_close(packed_logits.float(), padded_logits.float(), atol=2e-2, rtol=0)
    loss.backward()
    for layer in model.layers:
        assert layer.weight_hh_l0.grad is not None
        assert torch.isfinite(layer.weight_hh_l0.grad).all()
        assert layer.weight_hh_l0.grad.abs().sum() > 0
