# One image for every Drawdown service; the command picks the service
# (serve metering|credits|invoicing, bootstrap, migrate, keys, health).

# Wheels of Drawdown and its dependencies, without the embedded-PostgreSQL extra: a
# deployment brings its own PostgreSQL (DRAWDOWN_DATABASE_URL).
FROM python:3.11.14-slim-bookworm AS wheels
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY drawdown ./drawdown
COPY metering_service ./metering_service
COPY credits_service ./credits_service
COPY invoicing_service ./invoicing_service
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11.14-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels drawdown \
    && useradd --system --uid 10001 --no-create-home drawdown \
    && install --directory --owner drawdown /keys
# /keys is where `drawdown bootstrap --keys-dir /keys` keeps the keys; a new volume mounted
# there takes this directory's owner, so the non-root services can write and read it.
USER drawdown
# gRPC of metering, credits and invoicing; Prometheus /metrics (DRAWDOWN_METRICS_PORT).
EXPOSE 50051 50052 50053 50061 50062 50063 9090
# Healthy when the service this container runs reports SERVING (over TLS once
# DRAWDOWN_TLS_CERT_FILE is set).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["drawdown", "health"]
ENTRYPOINT ["drawdown"]
CMD ["--help"]
