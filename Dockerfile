# syntax=docker/dockerfile:1
# The flows image: Prefect workers, registration hooks, the optional Prefect server
# and every flow run (Kubernetes Jobs) run from it; the code lives at
# /opt/knowledge-ingest, the folder prefect.yaml's pull step switches to.
#
#   CPU pools:  docker build -t REPO:0.1.0 .
#   GPU pool and RayCluster (embeddings):
#               docker build -t REPO:0.1.0-gpu --build-arg EXTRAS=k8s,graph,embed,ray \
#                 --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
#   Spark drivers need a JRE: --build-arg APT_PACKAGES=openjdk-17-jre-headless
#
# torch: the `embed` extra needs it, and pip's default torch wheel on Linux pulls
# several GB of CUDA libraries. torch is therefore installed first from
# TORCH_INDEX_URL (CPU build by default; point it at a CUDA index for the GPU image),
# then everything else with constraints.txt, whose torch==2.13.0 pin the local build
# (2.13.0+cpu / +cu128) satisfies.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=k8s,graph
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
# Editable install at the final path: tasks/warehouse/dbt.py finds the dbt project next to the
# code (../dbt), which a copy in site-packages would not have.
WORKDIR /opt/knowledge-ingest
COPY pyproject.toml constraints.txt README.md ./
COPY flows ./flows
COPY tasks ./tasks
RUN case ",${EXTRAS}," in \
      *,embed,*) pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" ;; \
    esac \
 && pip install -c constraints.txt -e ".[${EXTRAS}]"

FROM ${PYTHON_IMAGE}
ARG APT_PACKAGES=""
# profile.d: KubeRay starts Ray nodes with `bash -lc`, and Debian's /etc/profile resets PATH.
RUN if [ -n "${APT_PACKAGES}" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends ${APT_PACKAGES} \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home \
      --shell /usr/sbin/nologin app \
 && echo 'export PATH=/opt/venv/bin:$PATH' > /etc/profile.d/venv.sh
COPY --from=build /opt/venv /opt/venv
WORKDIR /opt/knowledge-ingest
# Code stays root-owned: the app user can read it, not change it.
COPY . .
# The root filesystem is read-only in the cluster; everything that writes goes to /tmp
# (an emptyDir there).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/app \
    PREFECT_HOME=/tmp/prefect \
    XDG_CACHE_HOME=/tmp/.cache \
    KI_DATA_DIR=/tmp/data \
    DBT_TARGET_PATH=/tmp/dbt/target \
    DBT_LOG_PATH=/tmp/dbt/logs \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false
USER 10001:10001
CMD ["prefect", "version"]
