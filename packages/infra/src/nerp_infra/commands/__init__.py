"""Commands contributed by nerp-infra itself (registered through entry points)."""
