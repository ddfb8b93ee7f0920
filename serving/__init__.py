"""serving: a self-hosted model serving and deployment platform.

The SDK mirrors Azure Machine Learning SDK v1's deployment calls; import it from
``serving.sdk`` (kept out of this module so the scoring runtime imports nothing extra).
"""

__version__ = "0.1.0"
