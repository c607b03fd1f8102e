# segsync daemon image: slim Python 3.11, non-root, state on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SEGSYNC_STATE=/state/segsync.sqlite

WORKDIR /opt/segsync
COPY pyproject.toml README.md ./
COPY connector ./connector
COPY segmentation ./segmentation
COPY experiments ./experiments
RUN pip install ".[metrics,parquet]" \
    && useradd --system --uid 10001 --home-dir /state --shell /usr/sbin/nologin segsync \
    && mkdir -p /state /config \
    && chown segsync /state

USER segsync
# The state file (cursors, push ledger, arms) must outlive the container.
VOLUME ["/state"]
# Metrics and /healthz listen on 127.0.0.1 by default; set metrics.host: 0.0.0.0 in the YAML to publish them.
EXPOSE 9464
ENTRYPOINT ["segsync"]
CMD ["daemon", "/config/segsync.yaml"]
