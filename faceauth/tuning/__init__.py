"""The search: a search space from YAML, Ray Tune + Optuna (TPE) + ASHA, the best trial evaluated and
exported. It may import the workflows, the tasks and the foundation; the commands and the API import it."""
