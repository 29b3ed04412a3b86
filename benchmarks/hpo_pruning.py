"""HPO pruning: trial-epochs saved by a pruner, at equal best value.

Runs the same study twice with the real CV objective and the tiny backbone: once with
``pruner: none`` and once with the pruner under test (``median`` by default). Both runs
use the random sampler with the same seed, so they draw exactly the same configurations
in the same order (random sampling does not look at results), and any difference comes
from pruning alone. Reported per run:

- trial-epochs: epochs trained summed over every trial and fold (what pruning saves);
- wall s: the trials (dataset preparation, imports and refit excluded);
- best value and best trial: pruning must not lose the best configuration;
- complete / pruned trials.

and the saving ``1 - epochs(pruned) / epochs(none)``, with a check that both runs found
the same best trial and value.

Usage::

    uv run python benchmarks/hpo_pruning.py                        # median, 10 trials
    uv run python benchmarks/hpo_pruning.py --pruner bandit --slack-factor 0.2
    uv run python benchmarks/hpo_pruning.py --pruner wilcoxon --folds 4 --json

Speed targets live here, never in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # tiny models: one thread is fastest on CPU


def _experiment(args: argparse.Namespace, pruner: dict[str, Any]) -> Any:
    from nerp_infra.config import ExperimentConfig

    return ExperimentConfig.model_validate(
        {
            "name": "hpo-pruning-bench",
            "data": {"synthetic": {"n_documents": args.docs, "seed": 5}},
            "model": {
                "backbone": "tiny",
                "max_length": 64,
                "stride": 16,
                "tiny": {
                    "hidden_size": 32,
                    "num_layers": 1,
                    "num_heads": 2,
                    "intermediate_size": 64,
                    "vocab_size": 800,
                },
            },
            "train": {
                "epochs": args.epochs,
                "batch_size": 8,
                "early_stopping_patience": None,
                "precision": "fp32",
            },
            "hpo": {
                "study_name": "bench",
                "n_trials": args.trials,
                "k_folds": args.folds,
                "objective_metric": "f1_micro",
                "search_space": {
                    "learning_rate": {"type": "loguniform", "low": 1.0e-5, "high": 5.0e-2},
                    "warmup_ratio": {"type": "uniform", "low": 0.0, "high": 0.3},
                },
                "sampler": {"type": "random", "seed": args.seed},
                "pruner": pruner,
                "refit": False,
            },
            "tracking": {"enabled": False},
        }
    )


def _pruner(args: argparse.Namespace) -> dict[str, Any]:
    if args.pruner == "bandit":
        slack = (
            {"slack_amount": args.slack_amount}
            if args.slack_amount is not None
            else {"slack_factor": args.slack_factor}
        )
        return {"type": "bandit", "delay_evaluation": args.warmup, **slack}
    return {"type": args.pruner, "n_startup_trials": args.startup, "n_warmup_steps": args.warmup}


def _run(config: Any, root: Path) -> dict[str, Any]:
    from optuna.trial import TrialState

    from nerp_hpo import open_study, run_study

    started = time.perf_counter()
    outcome = run_study(config, output_root=root, progress=False)
    wall = time.perf_counter() - started
    study = open_study(outcome.study_name, outcome.storage_url)
    trials = study.get_trials(deepcopy=False)
    epochs = sum(int(t.user_attrs.get("epochs_trained", 0)) for t in trials)
    best = outcome.best_trial or {}
    return {
        "pruner": config.hpo.pruner.type,
        "trial_epochs": epochs,
        "wall_s": round(wall, 1),
        "best_value": outcome.best_value,
        "best_trial": best.get("number"),
        "best_params": best.get("params"),
        "complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pruner", choices=["median", "bandit", "wilcoxon"], default="median")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--docs", type=int, default=80)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--startup", type=int, default=2, help="median/wilcoxon startup trials")
    parser.add_argument("--warmup", type=int, default=0, help="warm-up steps / delay")
    parser.add_argument("--slack-factor", type=float, default=0.2)
    parser.add_argument("--slack-amount", type=float, default=None)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="nerp-hpo-bench-") as tmp:
        baseline = _run(_experiment(args, {"type": "none"}), Path(tmp) / "none")
        pruned = _run(_experiment(args, _pruner(args)), Path(tmp) / "pruned")
    saved = 1 - pruned["trial_epochs"] / baseline["trial_epochs"]
    same_best = (
        baseline["best_trial"] == pruned["best_trial"]
        and baseline["best_value"] == pruned["best_value"]
    )
    result = {
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "runs": [baseline, pruned],
        "trial_epochs_saved": round(saved, 3),
        "wall_saved": round(1 - pruned["wall_s"] / baseline["wall_s"], 3),
        "same_best": same_best,
    }
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(
            f"{'pruner':<9} {'trial-epochs':>12} {'wall s':>7} {'complete':>8} {'pruned':>6} "
            f"{'best value':>10} {'best trial':>10}"
        )
        for run in (baseline, pruned):
            print(
                f"{run['pruner']:<9} {run['trial_epochs']:>12} {run['wall_s']:>7} "
                f"{run['complete']:>8} {run['pruned']:>6} {run['best_value']:>10.4f} "
                f"{run['best_trial']:>10}"
            )
        print(
            f"trial-epochs saved: {saved:.0%}; wall time saved: {result['wall_saved']:.0%}; "
            f"same best trial and value: {'yes' if same_best else 'NO'}"
        )
    return 0 if same_best else 1


if __name__ == "__main__":
    sys.exit(main())
