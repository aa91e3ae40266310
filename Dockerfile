# syntax=docker/dockerfile:1
#
# attgan-batch with PyTorch (CUDA 13.0 wheels), ONNX Runtime and TensorRT (10.x/11.x from NVIDIA's index).
# TensorRT serves every GPU from Turing on, Hopper included. For RTX GPUs only (SM 75-89, 120, 121) the
# PyPI flavour TensorRT for RTX can replace it ('.[onnx,tensorrt-rtx]'), and it builds plans ahead of time
# on a machine without a GPU (build-engine --compute-capability 86,89): see docs/engines.md.
# A TensorRT plan runs only on the TensorRT version and GPU model that built it, so build plans inside
# this image, on the GPU that will run them (see docs/engines.md).
#
#   docker build -t attgan-batch .
#   docker run --rm --gpus all -v "$PWD:/work" attgan-batch build-engine -c ckpt --target tensorrt
#   docker run --rm --gpus all -v "$PWD:/work" attgan-batch run manifest.csv -c ckpt --out edited/
#
# Needs the NVIDIA Container Toolkit on the host and a driver for CUDA 13 (R580 or newer).

ARG CUDA_IMAGE=nvidia/cuda:13.0.2-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_EXTRA_INDEX_URL=https://pypi.nvidia.com \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Ubuntu 24.04's Python (3.12) in a venv: Debian's pip refuses system-wide installs (PEP 668)
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv "$VIRTUAL_ENV" \
    && pip install --upgrade pip

# The big, slow-changing layers first: torch built for CUDA 13.0 (matching the base image and
# TensorRT 11's CUDA 13 libraries, which the tensorrt metapackage fetches from pypi.nvidia.com).
ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"
RUN pip install "tensorrt>=10,<12"

WORKDIR /opt/attgan-batch
COPY pyproject.toml README.md ./
COPY attgan_batch ./attgan_batch
# (tensorrt itself is not imported here: docker build has no GPU driver; `attgan-batch build-engine`
# says clearly at run time if the libraries or the GPU are missing)
RUN pip install ".[onnx,tensorrt]" \
    && python -c "import importlib.metadata as m, attgan_batch.engines, onnxruntime; print('tensorrt', m.version('tensorrt'))"

# an unprivileged user with uid 1000 (Ubuntu 24.04 images already have 'ubuntu' on that uid); pass
# `--user "$(id -u):$(id -g)"` to docker run when your files belong to another uid
RUN if id -u ubuntu >/dev/null 2>&1; then userdel --remove ubuntu; fi \
    && useradd --create-home --uid 1000 attgan
USER attgan
WORKDIR /work
ENTRYPOINT ["attgan-batch"]
CMD ["--help"]
