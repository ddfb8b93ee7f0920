"""Shim of ``azureml_inference_server_http`` for scripts written for azmlinfsrv 1.x."""
