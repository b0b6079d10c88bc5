"""3D-GS and 4D-GS training: initialisation, optimiser, densification, the two-stage trainer,
named training presets."""

from gauss4d.train.presets import PRESETS, preset
from gauss4d.train.trainer import TrainConfig, TrainingDiverged, TrainResult, train

__all__ = ["PRESETS", "TrainConfig", "TrainResult", "TrainingDiverged", "preset", "train"]
