# The demo upstream: the unmodified Flask app of gateway/demo/upstream.py (no
# CORS code), served by Werkzeug.  Used by docker-compose.yml (service "app")
# and deploy/k8s (container "app"), where the gateway runs beside it.
#
#   docker build -f deploy/demo-app.Dockerfile -t cors-gateway-demo-app:0.1.0 .
#
# It binds 0.0.0.0:5000 by default; compose and Kubernetes run it with
# --host 127.0.0.1, so that only the gateway beside it can reach it.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/demo-app
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN /opt/demo-app/bin/pip install --no-cache-dir '.[demo]'

FROM python:3.11-slim-bookworm
ENV PATH=/opt/demo-app/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/demo-app /opt/demo-app
USER 10001:10001
WORKDIR /tmp
EXPOSE 5000
CMD ["python", "-m", "gateway.demo.upstream", "--host", "0.0.0.0", "--port", "5000"]
