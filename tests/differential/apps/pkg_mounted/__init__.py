"""An API app mounted under /api by DispatcherMiddleware (issue 16, pattern 4)."""
