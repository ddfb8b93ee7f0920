"""Deployment targets behind one small Protocol, and the endpoint lifecycle over them."""
