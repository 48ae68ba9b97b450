"""Objective evaluation: how close a converted recording is to a reference (mel-cepstral distortion, pitch,
voicing, speaker and content similarity), one score that ranks checkpoints, and the evaluation of a model on an
experiment's held-out pieces and on probe recordings of other voices."""
