"""Core: configuration, argument checks, the environment, pretrained weights, run folders."""
