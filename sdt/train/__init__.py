"""The trainer: ``sdt.train.experiment.run(config, ctx)`` trains a TSLM from a TrainConfig.

Modules: ``experiment`` (the run, top to bottom), ``optim`` (AdamW groups), ``schedule``
(warmup + decay, pure), ``evaluate`` (loss, greedy answers, accuracy per task, forecast
errors), ``checkpoint`` (atomic save, RNG state), ``device`` (device and autocast),
``distributed`` (torchrun / DDP), ``cli`` (``sdt-sweep train``).
"""
