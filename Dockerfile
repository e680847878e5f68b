# relai_bot's image: `relai-bot serve` on 0.0.0.0:8000, as a non-root user, the locked dependencies.
# The database lives outside the image: PostgreSQL by RELAI_DATABASE_URL (compose.yaml), or a SQLite file in
# the volume /var/lib/relai-bot. Settings come from the environment (.env.example lists them); none is baked
# in here but the address to listen on and the SQLite default.
#   docker build -t relai-bot .
#   docker compose up -d            (with PostgreSQL: compose.yaml, secrets in .env)

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/relai-bot
WORKDIR /src
# The locked dependencies first: this layer is rebuilt only when requirements.lock changes
COPY requirements.lock ./
RUN /opt/relai-bot/bin/pip install -r requirements.lock
# Then the package itself, nothing more: its wheel carries conversations/ and templates/ as
# relai_bot/_content (pyproject.toml, [tool.hatch.build.targets.wheel.force-include])
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
COPY conversations ./conversations
COPY templates ./templates
RUN /opt/relai-bot/bin/pip install --no-deps . \
    && /opt/relai-bot/bin/relai-bot flows validate

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 relai-bot \
    && useradd --system --uid 10001 --gid relai-bot --home-dir /var/lib/relai-bot --no-create-home \
       --shell /usr/sbin/nologin relai-bot \
    && install -d -o relai-bot -g relai-bot -m 0750 /var/lib/relai-bot
COPY --from=build /opt/relai-bot /opt/relai-bot
ENV PATH=/opt/relai-bot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RELAI_HOST=0.0.0.0 \
    RELAI_PORT=8000 \
    RELAI_DATABASE_URL=sqlite:////var/lib/relai-bot/relai_bot.sqlite3 \
    RELAI_DEMO_ACTIVITY=false
# The SQLite file (and its session key) when no PostgreSQL is named: kept out of the image
VOLUME ["/var/lib/relai-bot"]
WORKDIR /var/lib/relai-bot
# Numeric, so that an orchestrator can tell it is not root without reading /etc/passwd (runAsNonRoot)
USER 10001:10001
EXPOSE 8000
# /healthz: 200 while the process answers and its database is at the expected schema (no curl in the image)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('RELAI_PORT', '8000') + '/healthz', timeout=4)"]
CMD ["relai-bot", "serve"]
