"""Scoring: Dice/IoU definitions (`metrics`), per-photo scores against a trimap (`mask_scores`),
the evaluation pipeline over a split (`evaluate`), the worst-samples sheet (`gallery`) and training
curves as PNG (`plots`). Importing the package imports no torch."""
