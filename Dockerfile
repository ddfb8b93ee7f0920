# The platform's own image: the serving CLI (and, later, the registry server). Model images
# are generated separately (serving/images); this one packages the platform itself.
#
# Build it with no registry (the base comes from `serving images bootstrap`):
#     serving images bootstrap && serving images platform
# `serving images platform --output DIR` writes this context with its wheelhouse instead, for
# a plain `docker build DIR`. The context needs:
#     wheelhouse/            the platform's dependencies as wheels + requirements.txt
#     serving/ images/ scoring_templates/ pyproject.toml README.md
# Nothing is downloaded during the build.
#
# Run it against the host's Docker Engine and a workspace folder (it runs as uid 10001, so
# give it the socket's group):
#     docker run --rm -v /var/run/docker.sock:/var/run/docker.sock \
#         --group-add "$(stat -c %g /var/run/docker.sock)" -v "$PWD:/workspace" \
#         serving-platform:0.1.0 models list
ARG BASE_IMAGE=serving-base:3.11-bookworm

FROM ${BASE_IMAGE} AS build
COPY wheelhouse/ /tmp/wheelhouse/
RUN set -eu; \
    python3 -m venv --without-pip /opt/serving/venv; \
    pip_wheel="$(ls /tmp/wheelhouse/pip-*.whl | head -n 1)"; \
    /opt/serving/venv/bin/python "$pip_wheel/pip" install --no-index \
        --find-links /tmp/wheelhouse --no-cache-dir --disable-pip-version-check \
        --no-warn-script-location --progress-bar off -r /tmp/wheelhouse/requirements.txt

FROM ${BASE_IMAGE}
COPY --from=build /opt/serving/venv /opt/serving/venv
COPY pyproject.toml README.md /opt/serving/src/
COPY images/ /opt/serving/src/images/
COPY scoring_templates/ /opt/serving/src/scoring_templates/
COPY serving/ /opt/serving/src/serving/
RUN set -eu; \
    site="$(/opt/serving/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"; \
    echo /opt/serving/src > "$site/serving-src.pth"; \
    /opt/serving/venv/bin/python -m compileall -q /opt/serving/src/serving; \
    echo 'serving:x:10001:10001:serving:/home/serving:/usr/sbin/nologin' >> /etc/passwd; \
    echo 'serving:x:10001:' >> /etc/group; \
    mkdir -p /home/serving /workspace; \
    chown 10001:10001 /home/serving /workspace
ENV PATH=/opt/serving/venv/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/serving
WORKDIR /workspace
USER serving
ENTRYPOINT ["/opt/serving/venv/bin/python", "-m", "serving"]
CMD ["--help"]
