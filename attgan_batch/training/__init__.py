"""Training AttGAN: the reference objective and step order, exact resume, fine-tuning, DDP.

    from attgan_batch.training import TrainConfig, train
    from attgan_batch.model import AttGANSettings
    result = train(TrainConfig(out="runs/demo", data="data/synth", settings=AttGANSettings(img_size=64)))
"""
from .config import TrainConfig
from .trainer import Trainer, TrainingDiverged, TrainResult, resume_settings, train

__all__ = ["TrainConfig", "Trainer", "TrainingDiverged", "TrainResult", "resume_settings", "train"]
