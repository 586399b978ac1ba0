"""Inference: a checkpoint's `Predictor` (`inference`, whose `load_predictor` also opens ONNX
exports as an ONNX Runtime `OnnxPredictor`, `onnx_model`; `ort_runtime` imports ONNX Runtime),
folder inference (`infer_folder`), mask and overlay pictures (`render`) and the rule for which output files petseg may write (`outputs`).
Importing the package imports no torch."""
