"""Origins from the environment, comma-separated (issue 16, pattern 6): DIFF_CORS_ORIGINS is set for both runs."""
