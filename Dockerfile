# LedgerQL container image.
#
#   docker build -t ledgerql .
#   docker run --rm -e JWT_SECRET=... -e AUDIT_HMAC_KEY=... \
#     -e DATABASE_URL=postgresql+asyncpg://... ledgerql migrate
#   docker run --rm -p 8000:8000 -e JWT_SECRET=... -e AUDIT_HMAC_KEY=... -e DATABASE_URL=... ledgerql
#
# Configuration is environment variables only (see .env.example). The image defaults to
# APP_ENV=production, which refuses to start without a JWT_SECRET and an AUDIT_HMAC_KEY of at
# least 32 bytes each and does not migrate on `serve`: run the `migrate` command first
# (compose.yml does).

# ---------------------------------------------------------------------------------------
# Builder: a virtualenv holding exactly the pinned runtime dependency tree.
# Both stages use the same base image, so /opt/venv's interpreter symlinks stay valid.
# ---------------------------------------------------------------------------------------
FROM python:3.13-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

# Only the lock file first: this layer is rebuilt only when the pins change.
# --no-deps installs exactly what is pinned; `pip check` then fails the build if the lock
# is not a complete, consistent tree.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --no-deps -r /tmp/requirements.lock \
    && pip check

# ---------------------------------------------------------------------------------------
# Runtime
# ---------------------------------------------------------------------------------------
FROM python:3.13-slim AS runtime

LABEL org.opencontainers.image.title="LedgerQL" \
      org.opencontainers.image.description="LedgerQL: a GraphQL API server for a personal-finance platform" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.13-slim"

# A fixed, unprivileged identity with no login shell and no home directory.
RUN groupadd --system --gid 10001 ledgerql \
    && useradd --system --uid 10001 --gid ledgerql --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin ledgerql

ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    LOG_FORMAT=json

COPY --from=builder /opt/venv /opt/venv

# Application source, owned by root and read-only to the service user.
WORKDIR /app
COPY alembic.ini pyproject.toml schema.graphql ./
COPY migrations/ ./migrations/
COPY core/ ./core/
COPY db/ ./db/
COPY auth/ ./auth/
COPY graph/ ./graph/
# GraphiQL's built files (committed; the image needs no Node): served outside production only.
COPY frontend/graphiql/dist/ ./frontend/graphiql/dist/

# Byte-compile at build time: the service user cannot (and should not) write __pycache__.
# /app/var is the only path the service user owns: it holds the SQLite file and the local
# development secret when DATABASE_URL/JWT_SECRET are left at their defaults (mount a volume
# there for that); with PostgreSQL and a JWT_SECRET nothing is ever written.
RUN python -m compileall -q /app \
    && install -d -o 10001 -g 10001 -m 0700 /app/var

USER 10001:10001

EXPOSE 8000

STOPSIGNAL SIGTERM

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health/live', timeout=4).close()"]

ENTRYPOINT ["python", "-m", "graph.cli"]
CMD ["serve"]
