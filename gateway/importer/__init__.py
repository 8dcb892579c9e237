"""Translate a Flask app's flask-cors setup, read statically, into a cors-gateway config.

That is this package's one job (``cors-gateway import``).  The app's source is
parsed with ``ast`` only: nothing of it is imported or run.  What it
recognises:

* ``CORS(app, ...)``, ``CORS(blueprint, ...)``, ``cors = CORS(...)`` then
  ``cors.init_app(app, ...)``, aliases (``from flask_cors import CORS as X``,
  ``import flask_cors as fc``) and ``flask_cors.CORS(...)``, also reached
  through ``from pkg.extensions import *`` (as ``__all__`` allows);
* ``resources=`` as a dict of path pattern -> options, a list or a string;
* ``@cross_origin(...)`` with the ``@app.route`` / ``@bp.get`` / ...
  decorators above it (and ``add_url_rule(..., view_func=f)``);
* blueprints with literal ``url_prefix`` (on ``Blueprint(...)`` or on
  ``register_blueprint``, nested too);
* ``app.config["CORS_X"] = ...``, ``app.config.update(...)`` /
  ``from_mapping(...)`` with keywords or a dict, and ``from_object(Class)``
  when the class is in the scanned files;
* option values that are literals, module-level constants (also imported from
  a scanned module), constants assigned once in the enclosing function,
  concatenations and f-strings of those (``f"{API_PREFIX}/*"``),
  ``re.compile("...")`` and ``timedelta(...)``; origins read from the
  environment become ``${NAME}`` placeholders of the config.

Anything computed at run time becomes a ``Finding`` ("untranslatable") with
its file and line and the manual edit to make, and the emitted config takes
the narrow choice meanwhile (no origin, no credentials).

flask-cors's semantics are mirrored from its source (6.0): the defaults, the
``probably_regex`` heuristic that decides whether a string is a regex, the
start-only anchoring of ``re.match``, the order of a ``resources`` dict
(literal paths first, then regexes; more ``/`` first, then longer first), the
``CORS_*`` config keys.  Nothing here guesses beyond that heuristic.  Every
place where the gateway deliberately behaves differently is reported as a
finding; README "Migrating from flask-cors" lists them.

The pipeline runs one way; each module imports only those above it:

* ``findings``: ``Finding``, ``Findings``, the severities (used by all);
* ``source``: read the files, index them, resolve names, evaluate values;
* ``options``: flask-cors's defaults and option values with their lines;
* ``regexes``: flask-cors's ``re.match`` regexes as RE2 full matches;
* ``model``: the app (blueprints, views and rules, CORS activations, config);
* ``flask_cors``: one route's merged options -> one gateway ``cors`` block;
* ``paths``: Werkzeug rules and resource patterns as path regexes;
* ``routes``: the model -> the emitted routes, in flask-cors's order;
* ``render``: the routes -> the config text;
* ``pipeline``: ``import_app`` and the ``cors-gateway import`` command.
"""

from .findings import Finding, Findings
from .options import probably_regex, resource_sort_key
from .paths import converter_regex, rule_regex
from .pipeline import ImportResult, import_app, import_app_traced, run_import
from .source import SourceError

__all__ = [
    "Finding",
    "Findings",
    "ImportResult",
    "SourceError",
    "converter_regex",
    "import_app",
    "import_app_traced",
    "probably_regex",
    "resource_sort_key",
    "rule_regex",
    "run_import",
]
