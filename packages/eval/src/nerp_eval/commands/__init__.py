"""``nerp evaluate``, ``nerp benchmark``, ``nerp select`` and ``nerp report``."""
