"""Project #1: wafer-map (and photo-folder) classification."""
