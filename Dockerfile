# syntax=docker/dockerfile:1
# The cesce-workers image:  docker build -t cesce-workers:0.1.0 .
#
# build:   the wheel of this package and of every runtime dependency (confluent-kafka's wheel carries librdkafka),
#          installed into a virtual environment without pip (the build stage's pip installs into it), byte-compiled.
# runtime: the same slim Python with only that environment; a non-root user; nothing written at run time,
#          so the Helm chart can mount the root filesystem read-only. `cesce-worker` is the entrypoint:
#          `docker run cesce-workers:0.1.0 run invoices`, `... dlq list --topic erp.invoices.dlq`.
# The production image carries neither the sandbox nor the test tooling, so it has no `demo`; an image that runs it
# adds the sandbox extra: `docker build --build-arg EXTRAS=sandbox -t cesce-workers:0.1.0-demo .`, then `... demo`.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# pyproject.toml's extras to install besides the runtime: none in production; `sandbox` for an image that runs `demo`.
ARG EXTRAS=""
COPY pyproject.toml README.md ./
# The dependencies' wheels first, in a layer of their own: a change to the code does not rebuild them.
RUN mkdir workers schemas \
 && python -m pip wheel --wheel-dir /wheels ".${EXTRAS:+[$EXTRAS]}" \
 && rm /wheels/cesce_workers-*.whl
COPY schemas ./schemas
COPY workers ./workers
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/cesce-workers \
 && python -m pip --python /opt/cesce-workers/bin/python install --no-index --find-links /wheels \
      "cesce-workers${EXTRAS:+[$EXTRAS]}" \
 && /opt/cesce-workers/bin/cesce-worker --help > /dev/null

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="cesce-workers" \
      org.opencontainers.image.description="Kafka workers that connect an ERP to the Cesce credit-insurance APIs, exactly once" \
      org.opencontainers.image.version="${VERSION}"
RUN groupadd --system --gid 10001 cesce \
 && useradd --system --uid 10001 --gid cesce --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cesce
COPY --from=build /opt/cesce-workers /opt/cesce-workers
ENV PATH=/opt/cesce-workers/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# /healthz, /readyz and /metrics (WORKER_HTTP_PORT)
EXPOSE 9464
ENTRYPOINT ["cesce-worker"]
CMD ["--help"]
