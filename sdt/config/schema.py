"""The experiment config: the seed's format (experiment, dataset, model, training, device,
evaluation) plus what the trainer adds. Every key is honoured somewhere or rejected here."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_validator

from sdt.config._base import StrictModel

PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, lt=1)]

STAGES = ("stage1_mcq", "stage2_captioning", "stage3_cot", "stage4_sleep_cot", "stage5_ecg_cot")
TSQA_TASKS = ("trend", "volatility", "season", "outlier")


class ExperimentSection(StrictModel):
    name: str = "experiment"
    tags: list[str] = []
    notes: str = ""


class _DatasetBase(StrictModel):
    num_samples_train: PosInt = 6300
    num_samples_val: PosInt = 630
    num_samples_test: PosInt = 700


class TSQADataset(_DatasetBase):
    """Synthetic time-series multiple choice: four tasks x three options, lengths 64-512."""

    name: Literal["tsqa"] = "tsqa"
    tasks: list[Literal["trend", "volatility", "season", "outlier"]] = list(TSQA_TASKS)
    min_length: Annotated[int, Field(ge=16)] = 64
    max_length: Annotated[int, Field(ge=16)] = 512
    # fixed: a task's options always in one order (the letter names the label; text alone is
    # still at chance). shuffled: per-sample order, which needs a pretrained LM or long training.
    option_order: Literal["fixed", "shuffled"] = "fixed"

    @model_validator(mode="after")
    def _lengths(self):
        if self.min_length > self.max_length:
            raise ValueError(f"min_length <= max_length (got {self.min_length} > {self.max_length})")
        if not self.tasks:
            raise ValueError("at least one task")
        return self


class HARDataset(_DatasetBase):
    """BasicMotions accelerometer/gyroscope recordings (real, from the installed aeon package).
    The split sizes are upper bounds: the data set has 40 train and 40 test recordings."""

    name: Literal["har"] = "har"
    num_samples_train: PosInt = 40
    num_samples_val: Annotated[int, Field(gt=0, le=20)] = 8  # taken from the 40 train recordings
    num_samples_test: PosInt = 40
    sensors: list[Literal["accelerometer", "gyroscope"]] = ["accelerometer"]
    option_order: Literal["fixed", "shuffled"] = "fixed"  # as for tsqa
    # train split only: each recording also yields this many random windows (a seeded start,
    # crop_min_fraction..1 of its length); val and test stay whole recordings
    crops: NonNegInt = 0
    crop_min_fraction: Annotated[float, Field(gt=0, le=1)] = 0.6

    @model_validator(mode="after")
    def _sensors(self):
        if not self.sensors or len(set(self.sensors)) != len(self.sensors):
            raise ValueError(f"a non-empty list of distinct sensors (got {self.sensors})")
        return self


class ForecastDataset(_DatasetBase):
    """History -> next ``horizon`` values, written as text. Synthetic or real series."""

    name: Literal["forecast"] = "forecast"
    source: Literal["synthetic", "sunspots", "co2", "airline"] = "synthetic"
    history_length: Annotated[int, Field(ge=8)] = 64
    horizon: PosInt = 8
    num_samples_train: PosInt = 2000
    num_samples_val: PosInt = 100
    num_samples_test: PosInt = 100


class JsonlDataset(_DatasetBase):
    """User data in the OpenTSLM sample layout (pre_prompt, time_series_text, time_series,
    post_prompt, answer), one JSON object per line."""

    name: Literal["jsonl"] = "jsonl"
    train_path: str | None = None
    val_path: str | None = None
    test_path: str | None = None

    @model_validator(mode="after")
    def _paths(self):
        if not (self.train_path or self.test_path):
            raise ValueError("train_path and/or test_path (local .jsonl files)")
        return self


Dataset = Annotated[
    Union[TSQADataset, HARDataset, ForecastDataset, JsonlDataset], Field(discriminator="name")
]


class LoraSection(StrictModel):
    enabled: bool = False
    r: PosInt = 8
    alpha: PosInt = 16
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.05
    target_modules: list[str] = ["q_proj", "v_proj"]


class TinyLMSection(StrictModel):
    """The embedded backbone: a small Llama-style LM built from a transformers config."""

    hidden_size: PosInt = 128
    num_layers: PosInt = 2
    num_heads: PosInt = 4
    intermediate_size: PosInt = 256


class EncoderSection(StrictModel):
    dim: PosInt = 128
    num_layers: NonNegInt = 1
    num_heads: PosInt = 4
    max_patches: PosInt = 128
    # add per-series features to every patch embedding: log10 of the std and the signed log
    # mean (the patches see a z-scored series, and a tiny LM cannot read the caption's
    # numbers), and where in time the most abrupt change is and how abrupt it is
    series_features: bool = True


class ModelSection(StrictModel):
    type: Literal["OpenTSLMSP"] = "OpenTSLMSP"
    llm_id: str = "tiny"
    gradient_checkpointing: bool = False
    projector: Literal["linear", "mlp"] = "mlp"
    freeze_lm: bool = False
    # Text-only control: captions without mean/std and no patches (the series are removed).
    ignore_series: bool = False
    lora: LoraSection = LoraSection()
    tiny: TinyLMSection = TinyLMSection()
    encoder: EncoderSection = EncoderSection()


class TrainingSection(StrictModel):
    stage: Literal[STAGES] | None = None  # type: ignore[valid-type]
    init_from: str | None = None
    num_epochs: PosInt = 30
    batch_size: PosInt = 8
    lr_encoder: PosFloat = 2.0e-4
    lr_projector: PosFloat = 1.0e-4
    lr_base: PosFloat = 2.0e-5
    weight_decay: NonNegFloat = 0.01
    grad_clip_norm: PosFloat | None = 1.0
    warmup_fraction: Fraction = 0.03
    lr_schedule: Literal["linear", "cosine", "constant"] = "cosine"
    early_stopping_patience: PosInt | None = 5
    patch_size: PosInt = 4
    mixed_precision: Literal["no", "bf16", "fp16", "auto"] = "no"
    grad_accumulation: PosInt = 1
    eval_every: PosInt = 1
    save_every: PosInt = 1
    max_steps: PosInt | None = None

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _bool_precision(cls, v):
        if v is True:
            return "auto"
        if v is False:
            return "no"
        return v


class DeviceSection(StrictModel):
    type: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    index: NonNegInt | None = None


class EvaluationSection(StrictModel):
    metrics: list[Literal["accuracy", "loss", "mae", "mse", "valid_rate"]] = ["accuracy", "loss"]
    save_predictions: bool = True
    max_new_tokens: PosInt | None = None  # None: just enough for the task's answer
    batch_size: PosInt | None = None


class WandbSection(StrictModel):
    project: str = "specdifftree"
    entity: str | None = None
    mode: Literal["auto", "online", "offline", "disabled"] = "auto"


class TrackingSection(StrictModel):
    wandb: WandbSection = WandbSection()


class TrainConfig(StrictModel):
    """A training run: the seed's sections plus ``seed``, ``tracking`` and ``output_dir``."""

    seed: int = 0
    experiment: ExperimentSection = ExperimentSection()
    dataset: Dataset = TSQADataset()
    model: ModelSection = ModelSection()
    training: TrainingSection = TrainingSection()
    device: DeviceSection = DeviceSection()
    evaluation: EvaluationSection = EvaluationSection()
    tracking: TrackingSection = TrackingSection()
    output_dir: str = "runs"

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data):
        # The seed writes dataset names in capitals ("TSQA").
        if isinstance(data, dict) and isinstance(data.get("dataset"), dict):
            name = data["dataset"].get("name")
            if isinstance(name, str):
                data = {**data, "dataset": {**data["dataset"], "name": name.lower()}}
        return data
