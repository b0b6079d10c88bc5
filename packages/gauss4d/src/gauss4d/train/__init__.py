"""3D-GS and 4D-GS training: initialisation, optimiser, densification, the two-stage trainer."""

from gauss4d.train.trainer import TrainConfig, TrainingDiverged, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "train"]
