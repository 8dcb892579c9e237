"""A flask.Config filled from a settings module, then copied into the app's (issue 16, pattern 1)."""
import flask
from flask_cors import CORS


def create_app():
    app = flask.Flask(__name__)
    config = flask.Config(app.root_path)
    config.from_object("pkg_config_object.settings")
    config["CORS_SUPPORTS_CREDENTIALS"] = True
    app.config.update(config)
    CORS(app, resources={r"/api/*": {}})

    @app.route("/api/report", methods=["GET", "PUT"])
    def report():
        response = flask.jsonify(report=[])
        response.headers["X-Trace"] = "r1"
        return response

    return app


app = create_app()
