"""The differential corpus: small, unmodified Flask apps, each configuring flask-cors its own way.

Each module defines a module-level ``app``.  The harness serves every app twice
(with flask-cors, and with the no-op stub in ``../no_flask_cors`` first on the
path) and puts the gateway, configured by ``gateway.importer.import_app`` from
the module's source, in front of the second copy.
"""
