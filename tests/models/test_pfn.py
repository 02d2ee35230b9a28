"""Particle Flow Network: a function of the set of constituents, blind to order, padding and masked values."""

from __future__ import annotations

import pytest
import torch

from jettag.models import ParticleFlowNetwork


def jets(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Five jets of 1 to 9 constituents with 7 features, padded to 9 with zeros."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([9, 4, 1, 7, 2])
    x = torch.randn(5, 9, 7, generator=generator)
    x[torch.arange(9) >= lengths[:, None]] = 0.0
    return x, lengths


@pytest.fixture
def pfn() -> ParticleFlowNetwork:
    torch.manual_seed(1)
    return ParticleFlowNetwork(7, n_classes=1, phi_sizes=[16, 16, 8], f_sizes=[16], dropout=0.1).eval()


def test_the_output_does_not_depend_on_the_order_of_the_constituents(pfn):
    x, lengths = jets()
    reordered = x.clone()
    for row, n in enumerate(lengths.tolist()):
        reordered[row, :n] = x[row, torch.randperm(n)]
    assert not torch.equal(reordered, x)
    torch.testing.assert_close(pfn(reordered, lengths), pfn(x, lengths))


def test_padding_length_and_what_the_padding_holds_change_nothing(pfn):
    x, lengths = jets()
    expected = pfn(x, lengths)
    longer = torch.cat([x, torch.full((5, 30, 7), float("nan"))], dim=1)
    longer[1, 4:9] = 1e6  # inside the first padding too
    torch.testing.assert_close(pfn(longer, lengths), expected)
    # each jet alone, padded only to itself, gives its row of the batch
    for row, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(pfn(x[row : row + 1, :n], lengths[row : row + 1]), expected[row : row + 1])


def test_the_mask_and_the_lengths_are_the_same_input(pfn):
    x, lengths = jets()
    mask = torch.arange(9) < lengths[:, None]
    torch.testing.assert_close(pfn(x, mask=mask), pfn(x, lengths))
    with pytest.raises(ValueError, match="disagrees"):
        pfn(x, lengths, mask=~mask)
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 9\]"):
        pfn(x, lengths + 5)
    with pytest.raises(ValueError, match="needs its lengths"):
        pfn(x)


def test_every_constituent_counts_the_sum_is_not_a_mean(pfn):
    """Two copies of a constituent are not one: the latent sum keeps the multiplicity."""
    x, _ = jets()
    one = x[:1, :1]
    two = one.repeat(1, 2, 1)
    latent_one = pfn.latent(one, torch.ones(1, 1, dtype=torch.bool))
    latent_two = pfn.latent(two, torch.ones(1, 2, dtype=torch.bool))
    torch.testing.assert_close(latent_two, 2 * latent_one)


def test_shapes_classes_and_refused_sizes():
    x, lengths = jets()
    assert ParticleFlowNetwork(7, n_classes=3, phi_sizes=[8], f_sizes=[]).eval()(x, lengths).shape == (5, 3)
    with pytest.raises(ValueError, match="phi_sizes"):
        ParticleFlowNetwork(7, phi_sizes=[])
    with pytest.raises(ValueError, match="layer size"):
        ParticleFlowNetwork(7, phi_sizes=[8, 0])


def test_a_pfn_learns_a_question_about_the_whole_set():
    """Signal jets hold one more constituent of feature 0 above 1.5 than background jets, anywhere in the
    sequence: a sum over the set answers it, a look at one position does not."""
    torch.manual_seed(0)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, 2, (n,)).float()
        lengths = torch.randint(6, 20, (n,))
        x = torch.randn(n, 20, 3).clamp(max=1.4)
        rows = torch.arange(n)
        x[rows, (torch.rand(n) * lengths).long(), 0] = torch.where(labels > 0, 2.5, 0.0)
        x[torch.arange(20) >= lengths[:, None]] = 0.0
        return x, lengths, labels

    model = ParticleFlowNetwork(3, phi_sizes=[16, 16], f_sizes=[16])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, lengths, labels = sample(512)
    for _ in range(150):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x, lengths)[:, 0], labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    x, lengths, labels = sample(512)
    with torch.no_grad():
        accuracy = ((model.eval()(x, lengths)[:, 0] > 0).float() == labels).float().mean()
    assert accuracy > 0.95
