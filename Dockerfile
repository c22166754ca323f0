# plastrond: one image, two services (stomp and http), mode chosen by the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client \
 && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid (990), so that orchestrators can give the volumes to it (fsGroup).
RUN groupadd --system --gid 990 plastron \
 && useradd --system --uid 990 --gid plastron --home-dir /var/opt/plastron --shell /usr/sbin/nologin plastron \
 && mkdir -p /var/opt/plastron/msg /var/opt/plastron/jobs /var/log/plastron /etc/plastron/auth \
 && chown -R plastron:plastron /var/opt/plastron /var/log/plastron

WORKDIR /opt/plastrond
# The dependencies (and the build backend) first, read from pyproject.toml alone: this layer is
# built again only when pyproject.toml changes, so a change to the source rebuilds in seconds.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); \
print(*p['build-system']['requires'], *p['project']['dependencies'], sep='\n')" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt
COPY README.md ./
COPY src ./src
RUN pip install --no-deps --no-build-isolation . \
 && rm -rf /opt/plastrond/src /opt/plastrond/build

USER plastron
VOLUME ["/var/opt/plastron/msg", "/var/opt/plastron/jobs"]
# 5000: the http mode; 9180: the stomp mode's admin listener (/health, /metrics)
EXPOSE 5000
EXPOSE 9180

ENTRYPOINT ["plastrond", "-c", "/etc/plastrond.yml"]
CMD ["stomp"]
