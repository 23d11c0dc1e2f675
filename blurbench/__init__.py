"""blurbench: motion-blur estimation and deblurring benchmarks, model zoo and evaluation pipeline."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `blurbench.evaluate(model, ...)` without importing Lightning when only the package metadata is needed
    if name == "evaluate":
        from blurbench.evaluation import evaluate_model  # deferred: torch and Lightning

        return evaluate_model
    raise AttributeError(f"module 'blurbench' has no attribute {name!r}")
