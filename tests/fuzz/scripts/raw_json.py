"""rawhttp mode: run() decodes the body itself with request.get_json()."""

from azureml.contrib.services.aml_request import rawhttp


def init():
    pass


@rawhttp
def run(request):
    return {"type": type(request.get_json()).__name__}
