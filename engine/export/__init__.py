"""Exporting a run's model for deployment (``petseg export``), one concept a module:

* `model`: what is exported (the checkpoint's network in eval mode with its sigmoid, so the
  file outputs probabilities), its stride, the example input;
* `metadata`: what a consumer needs, stored in the file (ONNX ``metadata_props``, a TorchScript
  extra file): input size, mean/std, threshold, mask rule, model, run, valid Dice, format marker;
* `onnx_export`: ``torch.onnx.export(dynamo=True)`` to an ONNX model, checked by ``onnx.checker``;
* `torchscript_export`: ``torch.jit.trace`` to a frozen TorchScript module;
* `parity`: PyTorch against the export on the bundled sample's test photos (|Δ probability|,
  mask agreement, Dice of each against the trimaps), and the 0.999 agreement rule;
* `report`: ``export.json`` beside the file (every export's parity figures);
* `run_export`: the whole ``petseg export`` of a run, refusing bad input before any work.

Importing the package imports no torch (the TUI imports `report` on its UI thread).
"""
