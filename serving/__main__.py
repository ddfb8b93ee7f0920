from serving.cli.main import run

run()
