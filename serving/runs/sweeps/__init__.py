"""HyperDrive sweeps: a parent run whose detached driver samples parameters (Optuna), runs
child script runs, stops poor ones early (v1's policies and ASHA) and records the best."""
