"""nnU-Net trainers for the tests, found by ``-tr tests.nnunet_trainers:Name`` (outside nnU-Net).

They count their batches into ``tests.fakes.STEP_COUNTS``, ``fold + 1`` per batch, so the step
sensors give exact joules that differ from fold to fold.
"""

from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from tests.fakes import STEP_COUNTS


class CountingTrainer(nnUNetTrainer):
    """nnU-Net's default trainer, counting ``fold + 1`` per training and validation batch."""

    def train_step(self, batch: dict) -> dict:
        STEP_COUNTS["train"] += self.fold + 1
        return super().train_step(batch)

    def validation_step(self, batch: dict) -> dict:
        STEP_COUNTS["val"] += self.fold + 1
        return super().validation_step(batch)
