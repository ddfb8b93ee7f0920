"""Shim of ``azureml.contrib``."""
