"""Blueprints in their own modules, CORS applied by a helper once per blueprint (issue 16, pattern 2)."""
