"""Shim of ``azureml_inference_server_http.api``."""
