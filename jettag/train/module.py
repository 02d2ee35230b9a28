"""The LightningModule of every tagger: loss, optimiser, schedule, metrics and gradient diagnostics.

The network is a plain ``nn.Module`` (:mod:`jettag.models`) handed in from outside; this module owns what
training adds around it. One shared step serves training, validation and test. Logged:

- ``train/loss`` (each step), ``train/epoch_loss``, ``train/grad_norm`` (global L2 norm of the gradients
  before clipping, each step), ``lr``;
- ``val/loss``, ``val/accuracy``, ``val/auc`` (and ``test/...``): the AUC from scikit-learn on the scores
  of the whole epoch; for several classes ``val/auc_vs_background_<i>``, signal class i against the
  background on the discriminant ``s_i / (s_i + s_0)``, and ``val/auc`` their mean (as in the report).
  With several ranks each validates its own part of the split (:class:`jettag.train.JetDataModule`);
  the scores, labels and losses of all ranks are gathered (torchmetrics' ``CatMetric``, which also takes
  a rank without any) before the metrics of :mod:`jettag.metrics` are computed, so every rank
  computes the same numbers over the whole split, and early stopping and checkpointing decide alike on
  every rank.

For a recurrent network, once per validation epoch the input-gradient norms along the sequence
(:meth:`jettag.models.RecurrentTagger.input_gradient_norms`) of one fixed validation batch (the first) are
appended to :attr:`TaggerModule.gradient_reach`, on global rank 0 only (the rank that writes outputs).
That list and the per-epoch validation metrics (:attr:`TaggerModule.history`) are stored in checkpoints,
so a resumed run keeps them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn
from torchmetrics import CatMetric

from jettag.jetclass import SCHEDULES
from jettag.metrics import validation_aucs

__all__ = ["TaggerModule"]


class TaggerModule(LightningModule):
    """Train ``network`` (logits ``[batch, n_classes]``) on batches of :class:`jettag.train.JetDataModule`.

    ``n_classes=1``: one logit and ``BCEWithLogitsLoss``; more: ``CrossEntropyLoss`` on integer labels.
    AdamW with ``lr`` and ``weight_decay``; ``schedule`` is ``"cosine"`` (from ``lr`` down to
    ``final_lr_fraction * lr`` over all steps of the run), ``"onecycle"`` (linear warm-up over the first
    ``warmup_fraction`` of the steps, then the same cosine) or ``"none"``. The schedule reads the run's
    length from the trainer at every step, so a run resumed with more epochs stretches it instead of
    restarting it. Gradient clipping is the Trainer's (``gradient_clip_val``).
    """

    def __init__(
        self,
        network: nn.Module,
        n_classes: int = 1,
        *,
        lr: float,
        weight_decay: float,
        schedule: str,
        warmup_fraction: float = 0.1,
        final_lr_fraction: float = 0.01,
        model_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
        self.save_hyperparameters(ignore=["network"])
        self.network = network
        self.n_classes = n_classes
        self.loss_fn: nn.Module = nn.BCEWithLogitsLoss() if n_classes == 1 else nn.CrossEntropyLoss()
        #: per validation epoch of a recurrent network: mean input-gradient norm at each sequence position
        self.gradient_reach: list[np.ndarray] = []
        #: per validation epoch: ``{"epoch", "val/loss", "val/accuracy", "val/auc"}``
        self.history: list[dict[str, float]] = []
        # the epoch's validation (or test) scores, labels and per-batch loss sums, gathered over the ranks
        # by torchmetrics on compute; flat, so that a rank without batches adds an empty one of any shape
        self.epoch_scores = CatMetric(nan_strategy="disable")
        self.epoch_labels = CatMetric(nan_strategy="disable")
        self.epoch_losses = CatMetric(nan_strategy="disable")
        self._probe: dict[str, Tensor] | None = None

    # -- forward and the shared step ---------------------------------------------------------------------

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        if "lengths" in batch:
            return self.network(batch["x"], batch["lengths"])
        return self.network(batch["x"])

    def _loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        if self.n_classes == 1:
            return self.loss_fn(logits[:, 0].float(), labels.float())
        return self.loss_fn(logits.float(), labels.long())

    def _scores_of(self, logits: Tensor) -> Tensor:
        """Signal probability ``[batch]`` (binary), else class probabilities ``[batch, n_classes]``."""
        logits = logits.detach().float()
        if self.n_classes == 1:
            return torch.sigmoid(logits[:, 0])
        probabilities = torch.softmax(logits, dim=1)
        return probabilities[:, 1] if self.n_classes == 2 else probabilities

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        logits = self(batch)
        labels = batch["label"]
        loss = self._loss(logits, labels)
        if stage == "train":
            size = len(labels)
            self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=size)
            self.log("train/epoch_loss", loss, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        else:
            self.epoch_scores.update(self._scores_of(logits).flatten())
            self.epoch_labels.update(labels.detach().float())
            self.epoch_losses.update((loss.detach().float() * len(labels))[None])
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        if self._probe is None and hasattr(self.network, "input_gradient_norms") and "lengths" in batch:
            self._probe = {key: value.detach().cpu().clone() for key, value in batch.items()}
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    # -- epoch metrics -----------------------------------------------------------------------------------

    def _reset(self) -> None:
        for metric in (self.epoch_scores, self.epoch_labels, self.epoch_losses):
            metric.reset()

    def on_validation_epoch_start(self) -> None:
        self._reset()

    def on_test_epoch_start(self) -> None:
        self._reset()

    @staticmethod
    def _gathered(metric: CatMetric) -> Tensor:
        """What every rank added to ``metric`` this epoch, in rank order (torchmetrics gathers)."""
        value = metric.compute()
        if isinstance(value, list):  # nothing anywhere
            return torch.empty(0)
        return value.float().cpu()

    def _epoch_metrics(self, stage: str) -> dict[str, float]:
        # every rank computes, also one without batches: a collective that one rank skips never returns
        scores = self._gathered(self.epoch_scores).numpy()
        if self.n_classes > 2:
            scores = scores.reshape(-1, self.n_classes)
        labels = self._gathered(self.epoch_labels).numpy().astype(np.int64)
        loss_sum = self._gathered(self.epoch_losses).sum()
        n = max(len(labels), 1)
        if scores.ndim == 1:
            predicted = (scores > 0.5).astype(np.int64)
        else:
            predicted = scores.argmax(axis=1)
        auc, per_class = validation_aucs(labels, scores)
        metrics = {
            f"{stage}/loss": float(loss_sum) / n,
            f"{stage}/accuracy": float((predicted == labels).mean()) if len(labels) else math.nan,
            f"{stage}/auc": auc,
        }
        # each signal class against the background alone, with s_i / (s_i + s_0)
        metrics |= {f"{stage}/auc_vs_background_{i}": value for i, value in enumerate(per_class, start=1)}
        self._reset()
        return metrics

    def on_validation_epoch_end(self) -> None:
        metrics = self._epoch_metrics("val")
        # the same on every rank already; sync_dist only says so to Lightning (a mean of equal values)
        self.log_dict(metrics, prog_bar=True, sync_dist=True)
        if self.trainer.sanity_checking:
            return
        if self.trainer.state.fn == "fit":
            self.history.append({"epoch": int(self.current_epoch), **metrics})
            self._record_gradient_reach()

    def on_test_epoch_end(self) -> None:
        self.log_dict(self._epoch_metrics("test"), sync_dist=True)

    # -- gradient diagnostics ----------------------------------------------------------------------------

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Global L2 norm of all gradients, before the Trainer clips them."""
        norms = [p.grad.detach().float().norm() for p in self.parameters() if p.grad is not None]
        if norms:
            total = torch.linalg.vector_norm(torch.stack(norms))
            self.log("train/grad_norm", total, on_step=True, on_epoch=False)

    def _record_gradient_reach(self) -> None:
        if self._probe is None or not self.trainer.is_global_zero:
            return
        # validation runs under inference mode; the diagnostic needs autograd with respect to the input
        with torch.inference_mode(False), torch.enable_grad():
            x = self._probe["x"].clone().to(self.device)
            lengths = self._probe["lengths"].clone()
            norms = self.network.input_gradient_norms(x, lengths)
        self.gradient_reach.append(norms.detach().float().cpu().numpy())

    # -- optimiser ---------------------------------------------------------------------------------------

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        if self.hparams.schedule == "none":
            return {"optimizer": optimizer}
        warmup = self.hparams.warmup_fraction if self.hparams.schedule == "onecycle" else 0.0
        floor = self.hparams.final_lr_fraction

        def factor(step: int) -> float:
            # a plain function, so LambdaLR does not store it: a resumed run reads its own length
            total = max(int(self.trainer.estimated_stepping_batches), 1)
            progress = min(step / total, 1.0)
            if progress < warmup:
                return max(progress / warmup, 1e-3)
            progress = (progress - warmup) / (1.0 - warmup)
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.log("lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)

    # -- checkpoints -------------------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["jettag"] = {
            "history": self.history,
            "gradient_reach": [norms.tolist() for norms in self.gradient_reach],
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("jettag", {})
        self.history = list(state.get("history", []))
        self.gradient_reach = [
            np.asarray(norms, dtype=np.float32) for norms in state.get("gradient_reach", [])
        ]
