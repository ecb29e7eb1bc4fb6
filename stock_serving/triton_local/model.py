"""Triton Python-backend model: runs the version's model.onnx with onnxruntime (CPU).

Locally it stands in for the onnxruntime backend that production Triton uses on the same file.
"""

import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

OUTPUTS = ["forecast", "forecast_quantiles"]


class TritonPythonModel:
    def initialize(self, args):
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("TRITON_ORT_THREADS", "1"))
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        # Dynamic batching hands several requests at once: run them as one batch.
        prices = [pb_utils.get_input_tensor_by_name(r, "price_input").as_numpy() for r in requests]
        news = [pb_utils.get_input_tensor_by_name(r, "news_input").as_numpy() for r in requests]
        sizes = [len(p) for p in prices]
        outputs = self.session.run(
            OUTPUTS,
            {"price_input": np.concatenate(prices).astype(np.float32), "news_input": np.concatenate(news).astype(np.float32)},
        )
        responses, start = [], 0
        for size in sizes:
            tensors = [pb_utils.Tensor(name, out[start : start + size].astype(np.float32)) for name, out in zip(OUTPUTS, outputs)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size
        return responses
