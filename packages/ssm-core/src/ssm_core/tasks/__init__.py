"""The papers' synthetic tasks: data generators with known answers, models, training."""

from ssm_core.tasks.data import Induction, MarkovICL, SelectiveCopy, add_beta_loss
from ssm_core.tasks.train import TASKS, TaskConfig, TaskResult, train_task

__all__ = [
    "TASKS",
    "Induction",
    "MarkovICL",
    "SelectiveCopy",
    "TaskConfig",
    "TaskResult",
    "add_beta_loss",
    "train_task",
]
