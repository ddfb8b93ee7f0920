"""Shim of ``azureml.contrib.services``: raw HTTP access for entry scripts."""
