# The one image for the code location, run pods, training pods and the chatbot.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 STOCK_HOME=/mnt/storage
WORKDIR /opt/stock-news
# CPU wheels by default; for GPU nodes build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY stock_assets ./stock_assets
COPY stock_serving ./stock_serving
RUN pip install --extra-index-url "$TORCH_INDEX" . \
    && useradd --create-home --uid 1000 stock
COPY workspace.yaml dagster_cloud.yaml ./
USER 1000
EXPOSE 3030 8080 8501
CMD ["dagster", "api", "grpc", "-m", "stock_assets.definitions", "-h", "0.0.0.0", "-p", "3030"]
