API_PREFIX = "/api"
DOMAIN = "example.com"
