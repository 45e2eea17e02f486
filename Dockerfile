# The StockBrokerageSystem image: the matcher (the default command, `python -m matcher`),
# and, with another command, the standalone real-time server (`python -m matcher.realtime`),
# the Upstash REST proxy of the local stack and the REST API (api/ on gunicorn through
# devstack/dispatcher.py). docker-compose.yml runs each of them from this one image.
#
#   docker build -t stockbrokerage-system .
#   docker run --rm -e REDIS_URL=redis://... -e MONGODB_URI=mongodb://... -p 8000:8000 \
#     stockbrokerage-system
#
# What gets in: only what .dockerignore lets through (the sources, not the host's venv,
# caches or compiled files). Python 3.12, as on Vercel and in the venv (requires-python).
ARG PYTHON_VERSION=3.12

# --- 1. The matching core, compiled with mypyc as `make core` compiles it ----------------
# mypyc turns matcher/core/*.py into C extensions beside the sources, plus one shared
# library (<hash>__mypyc.*.so) at the top level; the next stage takes only those .so files.
FROM python:${PYTHON_VERSION}-slim-bookworm AS core
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# mypy (which ships mypyc) and setuptools at the versions requirements-dev.txt asks for;
# pyproject.toml carries the mypy settings `make core` compiles with.
COPY requirements-dev.txt pyproject.toml ./
RUN pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore \
        $(grep -Eo '^(mypy|setuptools)[^ #]*' requirements-dev.txt)
COPY matcher/__init__.py matcher/
COPY matcher/core/ matcher/core/
# The Makefile's CORE_SRC: every core module but __init__.py and _compiled.py.
RUN mypyc $(ls matcher/core/*.py | grep -v -e '/__init__\.py$' -e '/_compiled\.py$') \
    && touch matcher/core/*.so

# --- 2. The runtime image ----------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
# requirements-matcher.txt includes requirements.txt (what the API functions import);
# gunicorn, which serves the API in docker-compose.yml, at requirements-dev.txt's version.
COPY requirements.txt requirements-matcher.txt requirements-dev.txt ./
RUN pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore \
        -r requirements-matcher.txt $(grep -Eo '^gunicorn[^ #]*' requirements-dev.txt)
COPY lib/ lib/
COPY api/ api/
COPY matcher/ matcher/
COPY devstack/ devstack/
COPY vercel.json ./
COPY --from=core /src/matcher/core/*.so matcher/core/
COPY --from=core /src/*.so ./
# matcher/core/_compiled.py refuses a compiled module older than its source: these were
# compiled from exactly these sources, so they are made the newer. Then prove that the
# compiled core is what imports (a broken build fails here, not at the first order).
RUN touch matcher/core/*.so \
    && python -c "import matcher.core.book as m; assert m.__file__.endswith('.so'), m.__file__"
RUN useradd --system --uid 10001 --no-create-home sbs
USER sbs

# The matcher of shard 0: engine, Socket.IO (with one shard), /health and /metrics on
# SBS_MATCHER_PORT (default 8000). It needs REDIS_URL and MONGODB_URI.
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["python", "-m", "matcher", "--shard", "0", "--host", "0.0.0.0"]
