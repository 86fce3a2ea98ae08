# lurkcoin in a container: slim, non-root, the database on a volume.
#   docker build -t lurkcoin .
#   docker run -d -p 5000:5000 -v lurkcoin-data:/data lurkcoin
#   docker exec -it <container> lurkcoin create-server "My Server" --balance 1000
# On PostgreSQL: -e LURKCOIN_DATABASE_URL=postgresql://... (the driver is included).
FROM python:3.11-slim AS build
WORKDIR /src
COPY setup.cfg pyproject.toml README.md LICENSE ./
COPY lurkcoin ./lurkcoin
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgresql]'

FROM python:3.11-slim
RUN groupadd --system --gid 10001 lurkcoin \
    && useradd --system --uid 10001 --gid lurkcoin --home-dir /data --shell /usr/sbin/nologin lurkcoin \
    && install -d -o lurkcoin -g lurkcoin -m 750 /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'lurkcoin[postgresql]' \
    && rm -rf /wheels
USER lurkcoin
WORKDIR /data
VOLUME ["/data"]
ENV LURKCOIN_DATABASE_PATH=/data/lurkcoin.db \
    LURKCOIN_SERVER_HOST=0.0.0.0 \
    LURKCOIN_SERVER_PORT=5000 \
    LURKCOIN_LOGGING_FORMAT=json \
    PYTHONUNBUFFERED=1
EXPOSE 5000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:5000/readyz', timeout=4).status != 200)"]
CMD ["lurkcoin", "serve"]
