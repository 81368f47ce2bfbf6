"""Serving: Ray Serve deployments of models, their lifecycle, and the OpenAI runtime routes."""
