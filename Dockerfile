# strikeflow: one image for every service of docker-compose.yml (workers, beat, flower,
# migrate, the emulator); each service only changes the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY strikeflow ./strikeflow
RUN pip install . && rm -rf /src

# Never run as root: the workers hold broker keys and talk to the network.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin strikeflow
USER strikeflow
WORKDIR /home/strikeflow

CMD ["strikeflow", "--help"]
