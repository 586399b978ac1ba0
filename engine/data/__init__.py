"""Data layer: Oxford-IIIT Pet layout, image decoding, trimap rules, cache, augmentation, loaders.

Import the submodules directly (``engine.data.layout``, ``engine.data.loaders`` ...); this package
file stays empty so that importing a light module (masks, images) does not pull in torch.
"""
