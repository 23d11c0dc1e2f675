"""blurbench: motion-blur estimation and deblurring benchmarks, model zoo and evaluation pipeline."""

__version__ = "0.1.0"
