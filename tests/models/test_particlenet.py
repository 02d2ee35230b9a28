"""ParticleNet from weaver-core on jettag's sequences: weaver's network, fed physical points, blind to order
and padding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from weaver.nn.model.ParticleNet import ParticleNet

from jettag.jetclass import STANDARD_FEATURES
from jettag.models import ParticleCloudTagger, build_model, load_model_config, n_parameters
from jettag.standardisation import Standardisation

MEAN = np.array([1.0, 2.0, -3.0, -3.5, 0.2, 0.01, -0.02])
STD = np.array([1.1, 1.2, 0.9, 0.8, 0.15, 0.21, 0.19])
STANDARDISATION = Standardisation(list(STANDARD_FEATURES), MEAN, STD)
SPEC = {
    "name": "pn",
    "kind": "particlenet",
    "conv_params": [[4, [8, 8]], [4, [16, 16]]],
    "fc_params": [[16, 0.1]],
}


def raw_jets(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Six jets of 1 to 12 constituents, raw (unstandardised) features, padded to 12 with zeros."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([12, 5, 1, 9, 3, 12])
    raw = torch.randn(6, 12, 7, generator=generator) * torch.tensor(STD).float() + torch.tensor(MEAN).float()
    return raw, lengths


def standardised(raw: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    x = (raw - torch.tensor(MEAN).float()) / torch.tensor(STD).float()
    x[torch.arange(raw.shape[1]) >= lengths[:, None]] = 0.0
    return x


@pytest.fixture
def tagger() -> ParticleCloudTagger:
    torch.manual_seed(2)
    model = build_model(SPEC, 7, 1, feature_names=STANDARD_FEATURES, standardisation=STANDARDISATION)
    # a few training passes, so the batch-normalisation statistics are not the trivial ones
    raw, lengths = raw_jets(1)
    x = standardised(raw, lengths)
    with torch.no_grad():
        for _ in range(3):
            model.train()(x, lengths)
    return model.eval()


def test_the_network_is_weavers_particlenet_with_its_own_parameters(tagger):
    assert isinstance(tagger.particlenet, ParticleNet)
    torch.manual_seed(0)
    weaver_own = ParticleNet(7, 1, conv_params=[(4, (8, 8)), (4, (16, 16))], fc_params=[(16, 0.1)])
    assert n_parameters(tagger) == n_parameters(weaver_own)
    assert tagger.min_length == 5


def test_points_are_delta_eta_and_delta_phi_in_physical_units_and_reach_weaver_as_given(tagger):
    raw, lengths = raw_jets()
    x = standardised(raw, lengths)
    real = torch.arange(12) < lengths[:, None]
    points, features, mask = tagger.particlenet_inputs(x, real)
    deta, dphi = STANDARD_FEATURES.index("deta"), STANDARD_FEATURES.index("dphi")
    expected = torch.where(real[..., None], raw[..., [deta, dphi]], torch.tensor(MEAN[[deta, dphi]]).float())
    torch.testing.assert_close(points.transpose(1, 2), expected)
    torch.testing.assert_close(features, x.transpose(1, 2))
    assert mask.shape == (6, 1, 12)
    assert torch.equal(mask[:, 0], real)
    # the wrapper's forward is weaver's forward on those inputs
    torch.testing.assert_close(tagger(x, lengths), tagger.particlenet(points, features, mask))


def test_the_output_does_not_depend_on_the_order_of_the_constituents(tagger):
    raw, lengths = raw_jets()
    x = standardised(raw, lengths)
    reordered = x.clone()
    for row, n in enumerate(lengths.tolist()):
        reordered[row, :n] = x[row, torch.randperm(n)]
    torch.testing.assert_close(tagger(reordered, lengths), tagger(x, lengths))


def test_padding_length_and_what_the_padding_holds_change_nothing(tagger):
    raw, lengths = raw_jets()
    x = standardised(raw, lengths)
    expected = tagger(x, lengths)
    assert expected.std() > 1e-3  # the jets get different outputs, so agreement means something
    longer = torch.cat([x, torch.full((6, 25, 7), 1e6)], dim=1)
    longer[2, 1:12] = float("nan")
    torch.testing.assert_close(tagger(longer, lengths), expected)
    # short jets in batches padded to fewer positions than the kNN needs (k + 1 = 5): padded up inside
    torch.testing.assert_close(tagger(x[[4, 1], :5], lengths[[4, 1]]), expected[[4, 1]])
    torch.testing.assert_close(tagger(x[[4, 2], :3], lengths[[4, 2]]), expected[[4, 2]])
    torch.testing.assert_close(tagger(x[2:3, :1], lengths[2:3]), expected[2:3])


def test_build_model_needs_the_point_features_and_their_standardisation():
    with pytest.raises(ValueError, match="needs the feature names and the standardisation"):
        build_model(SPEC, 7, 1)
    names = [name for name in STANDARD_FEATURES if name != "dphi"] + ["charge"]
    with pytest.raises(ValueError, match="points need the features dphi"):
        build_model(SPEC, 7, 1, feature_names=names, standardisation=STANDARDISATION)


def test_the_shipped_file_is_weavers_default_network():
    spec = load_model_config(Path(__file__).resolve().parents[2] / "configs/models/particlenet.yaml")
    model = build_model(spec, 7, 1, feature_names=STANDARD_FEATURES, standardisation=STANDARDISATION)
    torch.manual_seed(0)
    assert n_parameters(model) == n_parameters(ParticleNet(7, 1))  # 47k parameters
