"""Configuration: pydantic models for every config file, YAML loading and ``--set``.

``load_experiment()`` returns an immutable :class:`ExperimentConfig` or raises one
:class:`ConfigError` that names the file, the key path and the reason of each problem.
"""

from nerp_infra.config.base import Backend, MetricName, RunMode
from nerp_infra.config.benchmark import BenchmarkConfig
from nerp_infra.config.cli import (
    DryRunOption,
    ExperimentArgument,
    SetOption,
    TargetOption,
    check_target,
    load_experiment_or_exit,
)
from nerp_infra.config.conversion import ConversionConfig, ParityConfig
from nerp_infra.config.data import DataConfig, SplitConfig, SyntheticDataConfig
from nerp_infra.config.errors import ConfigError, ConfigProblem
from nerp_infra.config.experiment import STAGES, ExperimentConfig, StageName
from nerp_infra.config.final_training import FinalTrainingConfig
from nerp_infra.config.hpo import (
    ChoiceParam,
    HpoConfig,
    IntParam,
    LogUniformParam,
    PrunerConfig,
    SamplerConfig,
    SearchParam,
    UniformParam,
)
from nerp_infra.config.loader import default_experiment_path, dump_config, load_experiment
from nerp_infra.config.model import ModelConfig, TinyBackboneConfig
from nerp_infra.config.naming import NamingConfig, RunKind
from nerp_infra.config.overrides import Override, parse_overrides
from nerp_infra.config.paths import PathsConfig
from nerp_infra.config.selection import SelectionConfig
from nerp_infra.config.starter import write_starter
from nerp_infra.config.tracking import TrackingConfig
from nerp_infra.config.train import TrainConfig, TrainOverrides

__all__ = [
    "STAGES",
    "Backend",
    "BenchmarkConfig",
    "ChoiceParam",
    "ConfigError",
    "ConfigProblem",
    "ConversionConfig",
    "DataConfig",
    "DryRunOption",
    "ExperimentArgument",
    "ExperimentConfig",
    "FinalTrainingConfig",
    "HpoConfig",
    "IntParam",
    "LogUniformParam",
    "MetricName",
    "ModelConfig",
    "NamingConfig",
    "Override",
    "ParityConfig",
    "PathsConfig",
    "PrunerConfig",
    "RunKind",
    "RunMode",
    "SamplerConfig",
    "SearchParam",
    "SelectionConfig",
    "SetOption",
    "SplitConfig",
    "StageName",
    "SyntheticDataConfig",
    "TargetOption",
    "TinyBackboneConfig",
    "TrackingConfig",
    "TrainConfig",
    "TrainOverrides",
    "UniformParam",
    "check_target",
    "default_experiment_path",
    "dump_config",
    "load_experiment",
    "load_experiment_or_exit",
    "parse_overrides",
    "write_starter",
]
