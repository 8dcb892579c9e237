CORS_ORIGINS = ["https://app.example.com"]
CORS_SUPPORTS_CREDENTIALS = True
CORS_EXPOSE_HEADERS = ["X-Total-Count"]
