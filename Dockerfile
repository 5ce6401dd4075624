# cx-streams worker image: slim, non-root, with a health check on /healthz.
#   docker build -t cx-streams .
#   docker run -e CX_KAFKA_BOOTSTRAP=kafka:9092 -p 6066:6066 cx-streams worker
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY schemas ./schemas
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[rocksdb]'

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/cx-streams --create-home cx
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
USER 10001
WORKDIR /var/lib/cx-streams
ENV PYTHONUNBUFFERED=1 \
    CX_DATA_DIR=/var/lib/cx-streams \
    CX_WEB_BIND=0.0.0.0 \
    CX_WEB_PORT=6066
EXPOSE 6066
HEALTHCHECK --interval=15s --timeout=3s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CX_WEB_PORT', '6066') + '/healthz', timeout=2)"]
ENTRYPOINT ["cx-streams"]
CMD ["worker"]
