"""CLI commands contributed to the ``nerp`` host through the ``nerp.commands`` entry points."""
