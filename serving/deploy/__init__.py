"""Deployment targets behind one small Protocol, and the endpoint lifecycle over them.

``service`` (deploy, observe, keys, logs, delete) and ``update`` (update, scale) run the
lifecycle, recording through ``recording`` what ``inputs`` checked; ``spec`` holds the typed
deployment specs; ``base`` the protocols (``Target``, ``Replaceable``, ``ReplicatedTarget``);
``targets`` registers ``local``, ``docker``, ``cluster/`` and ``kubernetes/``, which share
``toolkit`` (and ``containers`` for the Docker-based ones) and never import each other.
"""
