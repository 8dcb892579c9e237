"""Settings loaded by name: app.config.from_object("pkg_settings.settings") (issue 16, pattern 1)."""
