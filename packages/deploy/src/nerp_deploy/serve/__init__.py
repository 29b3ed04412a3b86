"""The HTTP API (extra ``[serve]``): FastAPI app over :class:`nerp_deploy.OnnxEngine`."""
