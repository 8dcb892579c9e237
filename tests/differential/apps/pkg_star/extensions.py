from flask_cors import CORS

__all__ = ["cors"]
cors = CORS()
