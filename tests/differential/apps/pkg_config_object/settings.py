CORS_ORIGINS = ["https://app.example.com", "https://admin.example.com"]
CORS_EXPOSE_HEADERS = ["X-Trace"]
