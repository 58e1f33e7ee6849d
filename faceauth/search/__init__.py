"""The search: a search space from YAML, Ray Tune + Optuna (TPE) + ASHA, the best trial evaluated and exported."""
