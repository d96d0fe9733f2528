# syntax=docker/dockerfile:1
# One image for all five Casemesh processes. Pick the process with the command:
#   docker run casemesh:latest serve cases
# Health checks are set per service in docker-compose.yml (services: /readyz,
# gateway: /healthz), since one image cannot know which process it runs.
FROM python:3.11-slim

# The uv release that wrote uv.lock; override with --build-arg UV_VERSION=...
ARG UV_VERSION=0.13.9

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install "uv==${UV_VERSION}"

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the code, installed into the same virtual environment.
COPY README.md ./
COPY casemesh ./casemesh
COPY services ./services
COPY gateway ./gateway
RUN uv sync --frozen --no-dev --no-editable

# Run as an unprivileged user; /data is only written by `casemesh up` (embedded).
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home casemesh \
    && mkdir -p /data \
    && chown casemesh:casemesh /data

ENV PATH="/app/.venv/bin:${PATH}" \
    CASEMESH_HOST=0.0.0.0 \
    CASEMESH_PORT=8080 \
    CASEMESH_DATA_DIR=/data

USER 10001:10001
EXPOSE 8080

ENTRYPOINT ["/app/.venv/bin/casemesh"]
CMD ["serve", "gateway"]
