# One image for every Drawdown service; the command picks the service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY drawdown ./drawdown
COPY metering_service ./metering_service
COPY credits_service ./credits_service
COPY invoicing_service ./invoicing_service
RUN pip install . && useradd --system --uid 10001 drawdown

USER drawdown
EXPOSE 50051 50052 50053
ENTRYPOINT ["drawdown"]
CMD ["--help"]
