"""The Project #1 capstone's plan (notebook 12): the course's set sizes, batch sizes and the presets.

Taught in: 12_project1_capstone
"""
__all__ = ["SET_SIZES", "BATCH_SIZE", "PRESETS"]

#: The Project #1 capstone's set sizes on the real data (source 001): (train, validation) wafers per
#: training set, and the wafers of the three test sets every fit is scored on.
SET_SIZES = {"original": (112_421, 32_085), "augmented": (123_197, 32_085), "balanced": (18_000, 5_535),
                 "test": 28_444 + 4_158 + 4_158}

#: Notebook 12's presets (``PRESET``): "smoke" checks the code in seconds on a CPU; "team" fits one
#: Colab T4 in an evening (about 1.5 h estimated, see notebook 12 and tests/classification/test_capstone_plan.py):
#: every comparison of the report with fewer epochs and seeds, EfficientNet-B0 at 128 px, the full
#: balanced test set, and no EfficientNet-B0 on the 112k-wafer original/augmented sets; "full" is the
#: course's grid (50 epochs, 3 seeds, 224 px, batch 112 for the CNN and 24 for EfficientNet-B0). ``n_samples`` None = all wafers (real data)
#: or 40,000 (synthetic twin). Grid cells are (protocol, training set, model).
#: The capstone's models: the course CNN, EfficientNet-B0 frozen and fine-tuned.
_MODELS = ("cnn", "effnet_b0_frozen", "effnet_b0_ft")
#: The course's batch size per model (source 001): the proposed CNN at 112, EfficientNet-B0 at 24.
BATCH_SIZE = {"cnn": 112, "effnet_b0_frozen": 24, "effnet_b0_ft": 24}
PRESETS = {
    "smoke": {"n_samples": 600, "map_size": 32, "input_size": 32, "balanced_sizes": (12, 5, 5), "seeds": 2,
              "epochs": 1, "batch_size": 64, "probe_batches": 1,
              "grid": [("leakage-free", s, "cnn") for s in ("original", "augmented", "balanced")]
              + [("leakage-free", "balanced", m) for m in _MODELS[1:]] + [("course", "balanced", "cnn")]},
    "team": {"n_samples": None, "map_size": 64, "input_size": 128, "balanced_sizes": (2000, 615, 462), "seeds": 2,
             "epochs": 12, "batch_size": 64, "probe_batches": 20,
             "grid": [("leakage-free", s, "cnn") for s in ("original", "augmented", "balanced")]
             + [("leakage-free", "balanced", m) for m in _MODELS[1:]] + [("course", "balanced", m) for m in _MODELS]},
    "full": {"n_samples": None, "map_size": 64, "input_size": 224, "balanced_sizes": (2000, 615, 462), "seeds": 3,
             "epochs": 50, "batch_size": None, "probe_batches": 20,  # None: the course's batch per model
             "grid": [("leakage-free", s, m) for s in ("original", "augmented", "balanced") for m in _MODELS]
             + [("course", "balanced", m) for m in _MODELS]},
}
