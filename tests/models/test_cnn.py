"""Jet-image CNN: shapes for the usual image sizes, input checks and a quick learning check."""

from __future__ import annotations

import pytest
import torch

from jettag.models import ImageCNN


@pytest.mark.parametrize("size", [33, 37, 40])
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("n_classes", [1, 3])
def test_shapes_for_the_usual_image_sizes(size: int, batch_norm: bool, n_classes: int) -> None:
    torch.manual_seed(0)
    model = ImageCNN(size, n_classes=n_classes, channels=[4, 8, 8], batch_norm=batch_norm)
    images = torch.rand(5, size, size)
    logits = model(images)
    assert logits.shape == (5, n_classes)
    torch.testing.assert_close(model(images.unsqueeze(1)), logits)


def test_construction_leaves_batchnorm_statistics_alone() -> None:
    model = ImageCNN(37, channels=[4, 8], batch_norm=True)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 2
    assert all(int(m.num_batches_tracked) == 0 for m in norms)
    assert model.training


def test_wrong_inputs_and_too_many_blocks_are_refused() -> None:
    model = ImageCNN(33, channels=[4])
    with pytest.raises(ValueError, match="33"):
        model(torch.rand(2, 1, 37, 37))
    with pytest.raises(ValueError, match="blocks"):
        ImageCNN(33, channels=[4] * 6)
    ImageCNN(33, channels=[4] * 5)  # 33 -> 16 -> 8 -> 4 -> 2 -> 1 still works


def test_cnn_learns_whether_a_blob_sits_in_the_top_or_bottom_half() -> None:
    torch.manual_seed(0)
    size = 33
    rows = torch.arange(size).float()

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, 2, (n,)).float()
        # blob centre: rows 3-12 (top) for label 0, rows 20-29 (bottom) for label 1; any column
        centre_row = 3 + 17 * labels + torch.randint(0, 10, (n,))
        centre_col = torch.randint(3, size - 3, (n,)).float()
        blob = torch.exp(
            -(
                (rows[None, :, None] - centre_row[:, None, None]) ** 2
                + (rows - centre_col[:, None])[:, None, :] ** 2
            )
            / 4.0
        )
        return blob + 0.1 * torch.rand(n, size, size), labels

    model = ImageCNN(size, channels=[4, 8], head_sizes=[16])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(80):
        images, labels = sample(32)
        optimiser.zero_grad()
        loss_fn(model(images).squeeze(1), labels).backward()
        optimiser.step()
    images, labels = sample(500)
    with torch.no_grad():
        accuracy = ((model.eval()(images).squeeze(1) > 0).float() == labels).float().mean()
    assert accuracy > 0.95
