"""One study worker, for tests/test_tuning.py: a cheap objective that reports each step.

    python tests/study_worker_script.py --storage URL --name NAME --trials N --log FILE

Each trial appends ``start <number> <pid>`` to the log when it begins, so a test knows
which trial is running when it kills the process.
"""

from __future__ import annotations

import argparse
import os
import time

import optuna

from course_utils.tuning.studies import open_study, optimize_until


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--storage", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--step-seconds", type=float, default=0.1)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        with open(args.log, "a") as log:
            log.write(f"start {trial.number} {os.getpid()}\n")
        x = trial.suggest_float("x", -5.0, 5.0)
        value = -((x - 1.0) ** 2)
        for step in range(3):
            time.sleep(args.step_seconds)
            trial.report(value + step, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study = open_study(args.name, storage=args.storage, heartbeat_seconds=1)
    optimize_until(study, objective, args.trials)


if __name__ == "__main__":
    main()
