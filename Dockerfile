# OCX's container image: `ocx serve` as an unprivileged user, OCX installed from this checkout.
#
#   docker build -t ocx .
#   docker run -v /etc/ocx/ocx.conf:/etc/ocx/ocx.conf:ro -v ocx-state:/var/lib/ocx \
#       -p 8080:8080 ocx
#
# The configuration must listen on every address (bind_host = 0.0.0.0) and keep its state in
# /var/lib/ocx (state_dir); options can also come from the environment, OS_<SECTION>__<OPTION>
# (OS_STORE__URL=postgresql://...), as with every oslo.config service. compose.yaml runs it
# with PostgreSQL, RabbitMQ and etcd.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/ocx \
        --shell /usr/sbin/nologin ocx \
    && install -d -o ocx -g ocx -m 0700 /var/lib/ocx \
    && install -d -m 0755 /etc/ocx

# Every dependency has a wheel for this platform: no compiler needed.
COPY pyproject.toml README.md /src/
COPY ocx /src/ocx
RUN pip install /src && rm -rf /src

USER ocx
WORKDIR /var/lib/ocx
VOLUME ["/var/lib/ocx"]
EXPOSE 8080

# Liveness on the default bind_port; compose.yaml checks readiness (GET /readyz) instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["ocx"]
CMD ["serve", "--config", "/etc/ocx/ocx.conf"]
