"""Shim of ``azureml.train``: v1's deprecated estimators, from :mod:`serving.sdk.estimator`
on first use (``azureml.train.estimator``, ``azureml.train.sklearn``, ``azureml.train.dnn``)."""

from __future__ import annotations
